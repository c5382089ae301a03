import type { Redis } from 'ioredis';

import type { SfuEventFields, SfuEventType } from './contracts.js';
import { Logger } from './logger.js';

const log = new Logger('SfuEvents');

/** Stream the gateway reads to learn which SSRC is which speaker. See docs/signalling.md. */
export const SFU_EVENTS_STREAM = 'sfu:events';
export const SFU_EVENTS_MAXLEN = 10000;
export const SFU_EVENTS_VERSION = '1';

/** The event types of the contract (generated from schemas.SfuEvent: src/contracts.ts). */
export type ProducerEventType = SfuEventType;

/** One audio producer as the RTP ingest sees it: who speaks, and how its RTP arrives. */
export type ProducerStream = Readonly<{
	room: string;
	peer: string;
	name: string;
	producer: string;
	/** The first of `ssrcs` (0 when no ingest is reachable), for readers that know one SSRC. */
	ssrc: number;
	/** One SSRC per ingest address the producer is sent to (its own consumer on each). */
	ssrcs: readonly number[];
	pt: number;
	clockRate: number;
}>;

export interface EventSink {
	publish(type: ProducerEventType, stream: ProducerStream): void;
	close(): Promise<void>;
}

/** The stream entry's fields: all strings, `v` first; exactly the contract's (SfuEventFields). */
export function eventFields(type: ProducerEventType, s: ProducerStream, nowMs = Date.now()): string[] {
	const fields: SfuEventFields = {
		v: SFU_EVENTS_VERSION,
		type,
		room: s.room,
		peer: s.peer,
		name: s.name,
		producer: s.producer,
		ssrc: String(s.ssrc),
		ssrcs: s.ssrcs.join(','),
		pt: String(s.pt),
		clock_rate: String(s.clockRate),
		ts: String(nowMs),
	};
	return Object.entries(fields).flat();
}

/**
 * XADDs producer events to Redis (MAXLEN ~ 10000). One connection keeps them in order.
 * Publishing never throws into the media path: while Redis is away ioredis queues and
 * retries; a command that finally fails is logged and counted.
 */
export class RedisEventSink implements EventSink {
	readonly #redis: Redis;
	published = 0;
	failed = 0;

	constructor(redis: Redis) {
		this.#redis = redis;
	}

	publish(type: ProducerEventType, stream: ProducerStream): void {
		this.#redis
			.xadd(SFU_EVENTS_STREAM, 'MAXLEN', '~', String(SFU_EVENTS_MAXLEN), '*', ...eventFields(type, stream))
			.then(() => {
				this.published++;
			})
			.catch((err: unknown) => {
				this.failed++;
				log.error('XADD failed [type:%s, producer:%s]: %s', type, stream.producer, String(err));
			});
	}

	/** The connection belongs to the caller (Sfu), which closes it. */
	async close(): Promise<void> {}
}
