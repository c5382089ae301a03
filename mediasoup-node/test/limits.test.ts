import assert from 'node:assert/strict';
import type http from 'node:http';
import { test } from 'node:test';

import { clientAddress, TrustedProxies } from '../src/ClientAddress.js';
import { TokenBucket } from '../src/RateLimit.js';
import { loadSettings } from '../src/settings.js';
import { SocketLimits } from '../src/SocketLimits.js';

const req = (remote: string, xff?: string | string[]): http.IncomingMessage =>
	({ socket: { remoteAddress: remote }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as never;

test('X-Forwarded-For is read only from trusted proxies, rightmost untrusted hop first', async () => {
	const proxies = await TrustedProxies.create(['10.0.0.0/8', '192.0.2.1', 'localhost']);
	try {
		assert.equal(clientAddress(req('198.51.100.9', '1.2.3.4'), proxies), '198.51.100.9', 'direct client: header ignored');
		assert.equal(clientAddress(req('::ffff:10.1.2.3', '1.2.3.4, 203.0.113.5'), proxies), '203.0.113.5');
		assert.equal(clientAddress(req('10.1.2.3', ['1.2.3.4', '203.0.113.5, 10.4.4.4']), proxies), '203.0.113.5');
		assert.equal(clientAddress(req('192.0.2.1', 'garbage, 203.0.113.6'), proxies), '203.0.113.6');
		assert.equal(clientAddress(req('192.0.2.1', '203.0.113.6, garbage'), proxies), '192.0.2.1');
		assert.equal(clientAddress(req('192.0.2.1'), proxies), '192.0.2.1', 'no header: the proxy itself');
		assert.equal(clientAddress(req('127.0.0.1', '203.0.113.9'), proxies), '203.0.113.9', 'host names are resolved');
	} finally {
		proxies.stop();
	}
	assert.deepEqual(loadSettings({ SFU_TRUSTED_PROXIES: ' 10.0.0.0/8, tasks.caddy ,::1' }).trustedProxies, ['10.0.0.0/8', 'tasks.caddy', '::1']);
	for (const bad of ['10.0.0.0/33', '10.0.0.0/8/1', 'bad name', '-x']) {
		assert.throws(() => loadSettings({ SFU_TRUSTED_PROXIES: bad }), /SFU_TRUSTED_PROXIES/, bad);
	}
});

test('socket limits: in all, per address, and not yet joined', () => {
	const limits = new SocketLimits({ maxSockets: 6, maxSocketsPerAddress: 3, maxUnjoinedSockets: 4, maxUnjoinedPerAddress: 2 });
	const a1 = limits.admit('a');
	const a2 = limits.admit('a');
	assert.match(String(limits.admit('a')), /not yet joined from your address/);
	assert.ok(typeof a1 !== 'string' && typeof a2 !== 'string');
	a1.joined();
	a1.joined(); // idempotent
	const a3 = limits.admit('a');
	assert.ok(typeof a3 !== 'string');
	assert.match(String(limits.admit('a')), /too many connections from your address/);
	const b1 = limits.admit('b');
	const b2 = limits.admit('b');
	assert.ok(typeof b1 !== 'string' && typeof b2 !== 'string');
	assert.equal(limits.unjoined, 4);
	assert.match(String(limits.admit('c')), /not yet joined/);
	b1.release();
	b1.release(); // idempotent
	assert.equal(limits.open, 4);
	const c1 = limits.admit('c');
	assert.ok(typeof c1 !== 'string');
	c1.joined();
	const d1 = limits.admit('d');
	assert.ok(typeof d1 !== 'string');
	assert.equal(limits.open, 6);
	assert.match(String(limits.admit('e')), /too many connections$/);
	for (const t of [a1, a2, a3, b2, c1, d1]) if (typeof t !== 'string') t.release();
	assert.equal(limits.open, 0);
	assert.equal(limits.unjoined, 0);
});

test('token bucket: a burst, then the sustained rate', () => {
	let now = 0;
	const bucket = new TokenBucket(2, 3, () => now);
	assert.deepEqual([1, 2, 3, 4].map(() => bucket.take()), [true, true, true, false]);
	now += 499;
	assert.equal(bucket.take(), false);
	now += 1;
	assert.equal(bucket.take(), true);
	now += 10_000;
	assert.deepEqual([1, 2, 3, 4].map(() => bucket.take()), [true, true, true, false]);
});
