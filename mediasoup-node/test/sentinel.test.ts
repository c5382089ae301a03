import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';

import { connectRedis, sentinelOptions } from '../src/redis.js';
import { eventually } from './helpers.js';

const SENTINEL_SH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../stack/config/sentinel.sh');

async function freePort(): Promise<number> {
	const srv = net.createServer();
	await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
	const port = (srv.address() as net.AddressInfo).port;
	await new Promise<void>((r) => srv.close(() => r()));
	return port;
}

/** One command on a throw-away connection; undefined if the server does not answer. */
async function once<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T | undefined> {
	const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
	r.on('error', () => {});
	try {
		await r.connect();
		return await fn(r);
	} catch {
		return undefined;
	} finally {
		r.disconnect();
	}
}

test('sentinel:// URLs', () => {
	assert.deepEqual(sentinelOptions('sentinel://:pw@s1:26379,s2:26380/parley/3?sentinel_password=sp'), {
		sentinels: [
			{ host: 's1', port: 26379 },
			{ host: 's2', port: 26380 },
		],
		name: 'parley',
		db: 3,
		password: 'pw',
		sentinelPassword: 'sp',
	});
	assert.deepEqual(sentinelOptions('sentinel://[::1]:26379/m').sentinels, [{ host: '::1', port: 26379 }]);
	assert.throws(() => sentinelOptions('sentinel://s1:26379'), TypeError);
	assert.throws(() => sentinelOptions('sentinel://s1/parley'), TypeError);
});

describe('the SFU follows the Redis master through a Sentinel failover', { skip: !fs.existsSync('/usr/bin/redis-server') }, () => {
	const procs = new Map<number, ChildProcess>();
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-sentinel-'));
	let master = 0;
	let replica = 0;
	const sentinels: number[] = [];

	const server = async (port: number, replicaOf?: number): Promise<void> => {
		const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir];
		if (replicaOf) args.push('--replicaof', '127.0.0.1', String(replicaOf));
		procs.set(port, spawn('redis-server', args, { stdio: 'ignore' }));
		await eventually(async () => ((await once(port, (r) => r.ping())) ? true : undefined), `redis ${port}`);
	};

	before(async () => {
		master = await freePort();
		replica = await freePort();
		await server(master);
		await server(replica, master);
		for (let i = 0; i < 3; i++) {
			const port = await freePort();
			sentinels.push(port);
			const env = {
				...process.env,
				SENTINEL_DIR: path.join(dir, `s${port}`),
				SENTINEL_PORT: String(port),
				SENTINEL_BIND: '127.0.0.1',
				SENTINEL_MASTER_HOST: '127.0.0.1',
				SENTINEL_MASTER_PORT: String(master),
				SENTINEL_DOWN_AFTER_MS: '1000',
				SENTINEL_FAILOVER_TIMEOUT_MS: '5000',
			};
			procs.set(port, spawn('sh', [SENTINEL_SH], { env, stdio: 'ignore' }));
		}
		// the replica synced and every sentinel sees it and the two others
		await eventually(
			async () => {
				const info = await once(replica, (r) => r.info('replication'));
				if (!info?.includes('master_link_status:up')) return undefined;
				for (const s of sentinels) {
					const m = ((await once(s, (r) => r.call('SENTINEL', 'MASTER', 'parley'))) ?? []) as string[];
					const get = (k: string): number => Number(m[m.indexOf(k) + 1]);
					if (!(get('num-slaves') >= 1 && get('num-other-sentinels') >= 2)) return undefined;
				}
				return true;
			},
			'sentinels ready',
			30_000,
		);
	});
	after(() => {
		for (const p of procs.values()) p.kill('SIGKILL');
		fs.rmSync(dir, { recursive: true, force: true });
	});

	test('XADDs go on to the promoted replica', async () => {
		const redis = connectRedis(`sentinel://${sentinels.map((p) => `127.0.0.1:${p}`).join(',')}/parley/0`, 'test');
		try {
			await redis.xadd('sfu:events', '*', 'n', '1');
			assert.equal(await redis.call('WAIT', '1', '2000'), 1);
			const t0 = Date.now();
			procs.get(master)?.kill('SIGKILL');
			await redis.xadd('sfu:events', '*', 'n', '2'); // queued and retried until the new master answers
			const took = Date.now() - t0;
			assert.ok(took < 15_000, `failover took ${took} ms`);
			const onReplica = (await once(replica, (r) => r.xrange('sfu:events', '-', '+'))) ?? [];
			assert.deepEqual(
				onReplica.map(([, f]) => f[1]),
				['1', '2'],
			);
		} finally {
			redis.disconnect();
		}
	});
});
