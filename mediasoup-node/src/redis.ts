import { Redis, type RedisOptions } from 'ioredis';

import { Logger } from './logger.js';

const log = new Logger('redis');

/**
 * A Redis client that reconnects forever and logs (rather than throws) connection errors.
 * `url` is `redis://…` (one server) or, as every Parley service reads it (parley_common.redisconn),
 * `sentinel://[:password@]host:port,host:port/<master>[/<db>][?sentinel_password=…]`: ioredis asks
 * the sentinels for the master and follows it through a failover; a write that meets a demoted
 * master (READONLY) reconnects and is sent again.
 */
export function connectRedis(url: string, role: string): Redis {
	const common: RedisOptions = { maxRetriesPerRequest: 20, connectionName: `parley-sfu-${role}` };
	const redis = url.startsWith('sentinel://')
		? new Redis({
				...common,
				...sentinelOptions(url),
				reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
			})
		: new Redis(url, common);
	redis.on('error', (err: Error) => log.warn('redis error [role:%s, url:%s]: %s', role, redactUrl(url), err.message));
	return redis;
}

/** ioredis options for a `sentinel://` URL (throws TypeError on a malformed one). */
export function sentinelOptions(url: string): RedisOptions {
	const m = /^sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)\/([^/?]+)(?:\/(\d+))?(?:\?(.*))?$/.exec(url);
	if (!m) throw new TypeError(`not a sentinel:// URL: ${redactUrl(url)}`);
	const [, user, password, hosts, name, db, query] = m;
	const sentinels = (hosts as string).split(',').map((h) => {
		const hp = /^\[?([^\]]+?)\]?:(\d+)$/.exec(h.trim());
		if (!hp) throw new TypeError(`sentinel "${h}" is not host:port`);
		return { host: hp[1] as string, port: Number(hp[2]) };
	});
	const params = new URLSearchParams(query ?? '');
	const sentinelPassword = params.get('sentinel_password');
	return {
		sentinels,
		name: decodeURIComponent(name as string),
		db: db ? Number(db) : 0,
		...(user ? { username: decodeURIComponent(user) } : {}),
		...(password ? { password: decodeURIComponent(password) } : {}),
		...(sentinelPassword ? { sentinelPassword } : {}),
	};
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
