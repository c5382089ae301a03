import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';

import { Logger } from './logger.js';

const log = new Logger('WorkerPool');

export type WorkerPoolOptions = Readonly<{
	numWorkers: number;
	workerBin: string | undefined;
	logLevel: types.WorkerLogLevel;
	/** Where worker `index` listens for WebRTC media (its WebRtcServer, shared by all its transports). */
	webRtcListenInfos: (index: number) => types.TransportListenInfo[];
	/** Called when a worker dies. The default ends the process (see main.ts). */
	onWorkerDied: (worker: types.Worker, error: Error) => void;
}>;

/**
 * One mediasoup worker (one process, one core) per slot, each with one WebRtcServer (one UDP
 * and one TCP port for all its WebRTC transports); rooms are placed on the worker
 * that holds the fewest rooms. A worker that dies is not replaced here: its routers are
 * gone, so onWorkerDied decides (main.ts logs and exits so the orchestrator restarts us).
 */
export class WorkerPool {
	readonly #workers: types.Worker[];
	readonly #rooms = new Map<types.Worker, number>();
	readonly #servers: Map<types.Worker, types.WebRtcServer>;
	#closed = false;

	private constructor(workers: types.Worker[], servers: Map<types.Worker, types.WebRtcServer>) {
		this.#workers = workers;
		this.#servers = servers;
		for (const w of workers) this.#rooms.set(w, 0);
	}

	static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
		const workers: types.Worker[] = [];
		const servers = new Map<types.Worker, types.WebRtcServer>();
		try {
			for (let i = 0; i < options.numWorkers; i++) {
				const worker = await mediasoup.createWorker({
					logLevel: options.logLevel,
					...(options.workerBin ? { workerBin: options.workerBin } : {}),
				});
				worker.on('died', (error) => options.onWorkerDied(worker, error));
				workers.push(worker);
				const server = await worker.createWebRtcServer({ listenInfos: options.webRtcListenInfos(i) });
				servers.set(worker, server);
				const { udpSockets, tcpServers } = await server.dump();
				log.info(
					'worker started [pid:%d, index:%d, webrtc udp:%s tcp:%s]',
					worker.pid,
					i,
					udpSockets.map((s) => s.port).join(','),
					tcpServers.map((s) => s.port).join(','),
				);
			}
		} catch (error) {
			for (const w of workers) w.close();
			throw error;
		}
		return new WorkerPool(workers, servers);
	}

	/** The WebRtcServer every WebRTC transport of a router on `worker` uses. */
	webRtcServerOf(worker: types.Worker): types.WebRtcServer {
		const server = this.#servers.get(worker);
		if (server === undefined) throw new Error(`worker ${worker.pid} is not in this pool`);
		return server;
	}

	get size(): number {
		return this.#workers.length;
	}

	/** Every worker, in pool order (the index is the `worker` label of the metrics). */
	get workers(): ReadonlyArray<types.Worker> {
		return this.#workers;
	}

	/** The worker with the fewest rooms; the caller must release() it when the room closes. */
	acquire(): types.Worker {
		if (this.#closed) throw new Error('worker pool closed');
		let best: types.Worker | undefined;
		for (const w of this.#workers) {
			if (w.closed) continue;
			if (best === undefined || (this.#rooms.get(w) ?? 0) < (this.#rooms.get(best) ?? 0)) best = w;
		}
		if (best === undefined) throw new Error('no live mediasoup worker');
		this.#rooms.set(best, (this.#rooms.get(best) ?? 0) + 1);
		return best;
	}

	release(worker: types.Worker): void {
		this.#rooms.set(worker, Math.max(0, (this.#rooms.get(worker) ?? 0) - 1));
	}

	roomsPerWorker(): number[] {
		return this.#workers.map((w) => this.#rooms.get(w) ?? 0);
	}

	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		for (const w of this.#workers) w.close();
	}
}
