import type { Redis } from 'ioredis';
import type { types } from 'mediasoup';

import { RedisAdmission, type Admission } from './Admission.js';
import { Logger, setLogLevel } from './logger.js';
import { closeRedis, connectRedis } from './redis.js';
import { RoomRegistry } from './RoomRegistry.js';
import { SfuCommandListener } from './SfuCommands.js';
import { RedisEventSink, type EventSink } from './SfuEvents.js';
import type { Settings } from './settings.js';
import { SignallingServer } from './SignallingServer.js';
import { WorkerMetrics } from './WorkerMetrics.js';
import { WorkerPool } from './WorkerPool.js';

const log = new Logger('Sfu');

export type SfuOptions = Readonly<{
	/** Defaults to XADD to `sfu:events` on REDIS_URL. */
	events?: EventSink;
	/** Defaults to the removed-participants set in Redis. */
	admission?: Admission;
	/** Defaults to logging and exiting the process (the orchestrator restarts it). */
	onWorkerDied?: (worker: types.Worker, error: Error) => void;
	emptyRoomCloseMs?: number;
}>;

/** Worker `index`'s WebRtcServer: UDP and TCP on SFU_WEBRTC_PORT + index (0: any free port of the plain range). */
export function webRtcListenInfos(settings: Settings, index: number): types.TransportListenInfo[] {
	const where =
		settings.webRtcPort === 0
			? { portRange: { min: settings.rtcMinPort, max: settings.rtcMaxPort } }
			: { port: settings.webRtcPort + index };
	return (['udp', 'tcp'] as const).map((protocol) => ({
		protocol,
		ip: settings.listenIp,
		...(settings.announcedAddress ? { announcedAddress: settings.announcedAddress } : {}),
		...where,
	}));
}

function exitOnWorkerDeath(worker: types.Worker, error: Error): void {
	log.error(
		'mediasoup worker died, exiting so the orchestrator restarts the SFU [pid:%d]: %s',
		worker.pid,
		error.message,
	);
	setTimeout(() => process.exit(1), 100).unref();
}

type Parts = Readonly<{
	pool: WorkerPool;
	registry: RoomRegistry;
	server: SignallingServer;
	events: EventSink;
	commands: SfuCommandListener;
	workerMetrics: WorkerMetrics;
	redis: Redis;
}>;

/**
 * A running SFU: mediasoup workers, rooms, the signalling server, and the Redis side
 * (producer events out on `sfu:events`, host commands in from `sfu:commands`, the
 * removed-participants check at join).
 */
export class Sfu {
	readonly pool: WorkerPool;
	readonly registry: RoomRegistry;
	readonly server: SignallingServer;
	readonly events: EventSink;
	readonly commands: SfuCommandListener;
	readonly workerMetrics: WorkerMetrics;
	readonly #redis: Redis;
	#closed = false;

	private constructor(parts: Parts) {
		this.pool = parts.pool;
		this.registry = parts.registry;
		this.server = parts.server;
		this.events = parts.events;
		this.commands = parts.commands;
		this.workerMetrics = parts.workerMetrics;
		this.#redis = parts.redis;
	}

	static async start(settings: Settings, options: SfuOptions = {}): Promise<Sfu> {
		setLogLevel(settings.logLevel);
		const redis = connectRedis(settings.redisUrl, 'main');
		const events = options.events ?? new RedisEventSink(redis);
		const admission = options.admission ?? new RedisAdmission(redis);
		let pool: WorkerPool | undefined;
		let commands: SfuCommandListener | undefined;
		try {
			pool = await WorkerPool.create({
				numWorkers: settings.numWorkers,
				workerBin: settings.workerBin,
				logLevel: 'warn',
				webRtcListenInfos: (index) => webRtcListenInfos(settings, index),
				onWorkerDied: options.onWorkerDied ?? exitOnWorkerDeath,
			});
			const registry = new RoomRegistry({
				pool,
				events,
				listenIp: settings.listenIp,
				announcedAddress: settings.announcedAddress,
				portRange: { min: settings.rtcMinPort, max: settings.rtcMaxPort },
				targets: settings.ingestTargets,
				resolveMs: settings.ingestResolveMs,
				emptyRoomCloseMs: options.emptyRoomCloseMs ?? 10_000,
			});
			const workerMetrics = new WorkerMetrics(pool.workers);
			commands = await SfuCommandListener.start(redis.duplicate(), registry);
			const metricsOf = {
				pool,
				registry,
				events,
				commands,
				workerMetrics,
				server: undefined as SignallingServer | undefined,
			};
			const server = await SignallingServer.start(settings, registry, admission, () => renderMetrics(metricsOf));
			metricsOf.server = server;
			return new Sfu({ pool, registry, server, events, commands, workerMetrics, redis });
		} catch (error) {
			await commands?.stop();
			pool?.close();
			await events.close();
			await closeRedis(redis);
			throw error;
		}
	}

	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		await this.server.close();
		this.registry.close();
		this.pool.close();
		await this.commands.stop();
		await this.events.close();
		await closeRedis(this.#redis);
	}
}

async function renderMetrics(m: {
	pool: WorkerPool;
	registry: RoomRegistry;
	events: EventSink;
	commands: SfuCommandListener;
	workerMetrics: WorkerMetrics;
	server: SignallingServer | undefined;
}): Promise<string> {
	const peers = m.registry.rooms().reduce((n, r) => n + r.peerCount, 0);
	const sink = m.events as Partial<{ published: number; failed: number }>;
	const metric = (name: string, type: 'gauge' | 'counter', value: number): string =>
		`# TYPE ${name} ${type}\n${name} ${value}`;
	return `${[
		metric('parley_sfu_workers', 'gauge', m.pool.size),
		metric('parley_sfu_rooms', 'gauge', m.registry.size),
		metric('parley_sfu_peers', 'gauge', peers),
		metric('parley_sfu_ws_connections_total', 'counter', m.server?.stats.connections ?? 0),
		metric('parley_sfu_request_errors_total', 'counter', m.server?.stats.errors ?? 0),
		metric('parley_sfu_ws_open', 'gauge', m.server?.limits.open ?? 0),
		metric('parley_sfu_ws_unjoined', 'gauge', m.server?.limits.unjoined ?? 0),
		metric('parley_sfu_ws_refused_total', 'counter', m.server?.stats.refused ?? 0),
		metric('parley_sfu_ws_rate_limited_total', 'counter', m.server?.stats.rateLimited ?? 0),
		metric('parley_sfu_events_published_total', 'counter', sink.published ?? 0),
		metric('parley_sfu_events_failed_total', 'counter', sink.failed ?? 0),
		metric('parley_sfu_commands_applied_total', 'counter', m.commands.applied),
		await m.workerMetrics.render(),
	].join('\n')}\n`;
}
