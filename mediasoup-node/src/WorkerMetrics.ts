import type { types } from 'mediasoup';

import { Logger } from './logger.js';

const log = new Logger('WorkerMetrics');

type Counts = { transports: number; producers: number; consumers: number };

// Full names, written out: tests/deploy checks the dashboards' metric names against them.
const CPU = 'parley_sfu_worker_cpu_seconds_total';
const GAUGES: Readonly<Record<keyof Counts, string>> = {
	transports: 'parley_sfu_worker_transports',
	producers: 'parley_sfu_worker_producers',
	consumers: 'parley_sfu_worker_consumers',
};
const HELP: Readonly<Record<keyof Counts, string>> = {
	transports: 'Live transports on the worker (WebRTC, plain ingest, gateway).',
	producers: 'Live producers on the worker.',
	consumers: 'Live consumers on the worker (listeners and the gateway).',
};

/**
 * Per-worker Prometheus figures: CPU seconds from getrusage(2) in the worker process
 * (`worker.getResourceUsage()`), and live transports / producers / consumers counted from
 * mediasoup's observer events, so the counts cover every transport, the gateway
 * PlainTransports included, without the rooms having to report anything.
 * Series are labelled by `worker` (the pool index, stable across restarts) and `pid`.
 */
export class WorkerMetrics {
	readonly #workers: ReadonlyArray<types.Worker>;
	readonly #counts = new Map<types.Worker, Counts>();

	constructor(workers: ReadonlyArray<types.Worker>) {
		this.#workers = workers;
		for (const w of workers) {
			const counts: Counts = { transports: 0, producers: 0, consumers: 0 };
			this.#counts.set(w, counts);
			w.observer.on('newrouter', (router) => watchRouter(router, counts));
		}
	}

	/** Live counts of one worker (tests read them; /metrics renders them). */
	counts(worker: types.Worker): Readonly<Counts> {
		return { ...(this.#counts.get(worker) ?? { transports: 0, producers: 0, consumers: 0 }) };
	}

	/** Prometheus text for every worker; a worker that does not answer is left out of the CPU series. */
	async render(): Promise<string> {
		const usage = await Promise.all(
			this.#workers.map((w) =>
				w.closed
					? Promise.resolve(undefined)
					: w.getResourceUsage().catch((error: unknown) => {
							log.warn('getResourceUsage failed [pid:%d]: %s', w.pid, String(error));
							return undefined;
						}),
			),
		);
		const cpu: string[] = [];
		const gauges: Record<keyof Counts, string[]> = { transports: [], producers: [], consumers: [] };
		this.#workers.forEach((w, i) => {
			const labels = `worker="${i}",pid="${w.pid}"`;
			const ru = usage[i];
			if (ru) {
				// ru_utime / ru_stime are milliseconds.
				cpu.push(`${CPU}{${labels},mode="user"} ${ru.ru_utime / 1000}`);
				cpu.push(`${CPU}{${labels},mode="system"} ${ru.ru_stime / 1000}`);
			}
			const c = this.#counts.get(w);
			for (const k of Object.keys(gauges) as Array<keyof Counts>) {
				gauges[k].push(`${GAUGES[k]}{${labels}} ${c?.[k] ?? 0}`);
			}
		});
		const lines = [
			`# HELP ${CPU} CPU time of the mediasoup worker process (getrusage).`,
			`# TYPE ${CPU} counter`,
			...cpu,
		];
		for (const k of Object.keys(gauges) as Array<keyof Counts>) {
			lines.push(`# HELP ${GAUGES[k]} ${HELP[k]}`, `# TYPE ${GAUGES[k]} gauge`, ...gauges[k]);
		}
		return lines.join('\n');
	}
}

// mediasoup emits the observer's 'close' for every child when its parent closes, so each
// increment below is matched by exactly one decrement.
function watchRouter(router: types.Router, counts: Counts): void {
	router.observer.on('newtransport', (transport) => {
		counts.transports++;
		transport.observer.once('close', () => counts.transports--);
		transport.observer.on('newproducer', (producer) => {
			counts.producers++;
			producer.observer.once('close', () => counts.producers--);
		});
		transport.observer.on('newconsumer', (consumer) => {
			counts.consumers++;
			consumer.observer.once('close', () => counts.consumers--);
		});
	});
}
