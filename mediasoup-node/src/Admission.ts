import type { Redis } from 'ioredis';

import { Logger } from './logger.js';

const log = new Logger('Admission');

/** Redis keys the gateway's API writes and the SFU enforces (docs/signalling.md, "Room state"). */
export const roomKey = (room: string): string => `room:${room}`;
export const removedKey = (room: string): string => `room:${room}:removed`;
export const mutedKey = (room: string): string => `room:${room}:muted`;
export const ADMISSION_TIMEOUT_MS = 500;

/** What the SFU must know about a room and a participant before letting them in. */
export type RoomState = Readonly<{
	/** `room:{slug}` field `status` is `closed`. */
	closed: boolean;
	/** In `room:{slug}:removed`. */
	removed: boolean;
	/** In `room:{slug}:muted` (muted by a host, until a host unmutes). */
	muted: boolean;
	/** `room:{slug}` field `max_participants` (a positive integer), if set. */
	maxParticipants: number | undefined;
}>;

export const OPEN_ROOM: RoomState = { closed: false, removed: false, muted: false, maxParticipants: undefined };

/** Decides whether a participant with a valid token may still join, and how. */
export interface Admission {
	check(room: string, peer: string): Promise<RoomState>;
}

/**
 * Reads the room's state from Redis in one round trip. If Redis does not answer within 500 ms
 * the join is let through as to an open room (logged): tokens are short-lived, the SFU's own
 * memory still knows whom a host removed or muted in a room it hosts, and an SFU that admits
 * nobody while Redis restarts would be the bigger outage.
 */
export class RedisAdmission implements Admission {
	readonly #redis: Redis;

	constructor(redis: Redis) {
		this.#redis = redis;
	}

	async check(room: string, peer: string): Promise<RoomState> {
		let timer: NodeJS.Timeout | undefined;
		try {
			const pipeline = this.#redis
				.pipeline()
				.hmget(roomKey(room), 'status', 'max_participants')
				.sismember(removedKey(room), peer)
				.sismember(mutedKey(room), peer);
			const answer = await Promise.race([
				pipeline.exec(),
				new Promise<never>((_, reject) => {
					timer = setTimeout(() => reject(new Error('timeout')), ADMISSION_TIMEOUT_MS);
				}),
			]);
			const [info, removed, muted] = (answer ?? []).map(([err, value]) => {
				if (err) throw err;
				return value;
			});
			const [status, max] = (info ?? []) as Array<string | null>;
			return {
				closed: status === 'closed',
				removed: removed === 1,
				muted: muted === 1,
				maxParticipants: parseLimit(max ?? null),
			};
		} catch (err) {
			log.warn('room state check failed, admitting [room:%s, peer:%s]: %s', room, peer, String(err));
			return OPEN_ROOM;
		} finally {
			clearTimeout(timer);
		}
	}
}

function parseLimit(raw: string | null): number | undefined {
	if (raw === null || raw === '') return undefined;
	const n = Number(raw);
	return Number.isInteger(n) && n > 0 ? n : undefined;
}
