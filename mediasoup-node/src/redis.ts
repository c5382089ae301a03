import { Redis } from 'ioredis';

import { Logger } from './logger.js';

const log = new Logger('redis');

/** A Redis client that reconnects forever and logs (rather than throws) connection errors. */
export function connectRedis(url: string, role: string): Redis {
	const redis = new Redis(url, { maxRetriesPerRequest: 20, connectionName: `parley-sfu-${role}` });
	redis.on('error', (err: Error) => log.warn('redis error [role:%s, url:%s]: %s', role, redactUrl(url), err.message));
	return redis;
}

export async function closeRedis(redis: Redis): Promise<void> {
	try {
		await redis.quit();
	} catch {
		redis.disconnect();
	}
}

function redactUrl(url: string): string {
	return url.replace(/\/\/[^@/]*@/, '//***@');
}
