import type { Redis } from 'ioredis';

import { Logger } from './logger.js';

const log = new Logger('Admission');

/** Redis set of participant ids a host removed from a room (written by the gateway's API). */
export const removedKey = (room: string): string => `room:${room}:removed`;
export const ADMISSION_TIMEOUT_MS = 500;

/** Decides whether a participant with a valid token may still join. */
export interface Admission {
	isRemoved(room: string, peer: string): Promise<boolean>;
}

/**
 * Refuses participants in `room:<slug>:removed`. If Redis does not answer within 500 ms the
 * join is let through (logged): tokens are short-lived, and an SFU that admits nobody while
 * Redis restarts would be the bigger outage.
 */
export class RedisAdmission implements Admission {
	readonly #redis: Redis;

	constructor(redis: Redis) {
		this.#redis = redis;
	}

	async isRemoved(room: string, peer: string): Promise<boolean> {
		let timer: NodeJS.Timeout | undefined;
		try {
			const answer = await Promise.race([
				this.#redis.sismember(removedKey(room), peer),
				new Promise<never>((_, reject) => {
					timer = setTimeout(() => reject(new Error('timeout')), ADMISSION_TIMEOUT_MS);
				}),
			]);
			return answer === 1;
		} catch (err) {
			log.warn('removed-list check failed, admitting [room:%s, peer:%s]: %s', room, peer, String(err));
			return false;
		} finally {
			clearTimeout(timer);
		}
	}
}
