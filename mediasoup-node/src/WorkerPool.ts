import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';

import { Logger } from './logger.js';

const log = new Logger('WorkerPool');

export type WorkerPoolOptions = Readonly<{
	numWorkers: number;
	workerBin: string | undefined;
	logLevel: types.WorkerLogLevel;
	/** Called when a worker dies. The default ends the process (see main.ts). */
	onWorkerDied: (worker: types.Worker, error: Error) => void;
}>;

/**
 * One mediasoup worker (one process, one core) per slot; rooms are placed on the worker
 * that holds the fewest rooms. A worker that dies is not replaced here: its routers are
 * gone, so onWorkerDied decides (main.ts logs and exits so the orchestrator restarts us).
 */
export class WorkerPool {
	readonly #workers: types.Worker[];
	readonly #rooms = new Map<types.Worker, number>();
	#closed = false;

	private constructor(workers: types.Worker[]) {
		this.#workers = workers;
		for (const w of workers) this.#rooms.set(w, 0);
	}

	static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
		const workers: types.Worker[] = [];
		try {
			for (let i = 0; i < options.numWorkers; i++) {
				const worker = await mediasoup.createWorker({
					logLevel: options.logLevel,
					...(options.workerBin ? { workerBin: options.workerBin } : {}),
				});
				worker.on('died', (error) => options.onWorkerDied(worker, error));
				log.info('worker started [pid:%d, index:%d]', worker.pid, i);
				workers.push(worker);
			}
		} catch (error) {
			for (const w of workers) w.close();
			throw error;
		}
		return new WorkerPool(workers);
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
