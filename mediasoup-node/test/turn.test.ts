import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';

import { loadSettings, SettingsError } from '../src/settings.js';
import { parseTurnUrls, turnCredentials } from '../src/turn.js';
import { startSfu, TestClient } from './helpers.js';

const noEvents = { publish(): void {}, async close(): Promise<void> {} };

test('TURN REST credentials: <expiry>:<participant>, base64 HMAC-SHA1 of it under the shared secret', () => {
	const turn = { urls: ['turn:turn.example.org:3478?transport=udp'], secret: 's3cret', ttlS: 600 };
	const c = turnCredentials(turn, 'alice', 1_700_000_000_500);
	assert.equal(c.username, '1700000600:alice');
	// The value coturn computes for this username and secret (base64 of 20 bytes: 28 chars).
	assert.equal(c.credential, createHmac('sha1', 's3cret').update('1700000600:alice').digest('base64'));
	assert.equal(c.credential.length, 28);
	assert.notEqual(turnCredentials({ ...turn, secret: 'other' }, 'alice', 1_700_000_000_500).credential, c.credential);
	assert.deepEqual(c.urls, turn.urls);
});

test('TURN settings: URIs checked, a secret required, relay only with TURN', () => {
	assert.deepEqual(parseTurnUrls(' turn:a.example:3478?transport=udp, turns:a.example:5349?transport=tcp ,'), [
		'turn:a.example:3478?transport=udp',
		'turns:a.example:5349?transport=tcp',
	]);
	for (const bad of ['http://a.example', 'turn:', 'turn:a b', 'stun:a.example:3478', 'turn:a.example:3478?transport=sctp']) {
		assert.throws(() => parseTurnUrls(bad), /not a TURN URI/, bad);
	}
	assert.throws(() => loadSettings({ TURN_URLS: 'turn:127.0.0.1:3478' }), /TURN_SECRET/);
	assert.throws(() => loadSettings({ TURN_URLS: 'turn:x y' }), SettingsError);
	assert.throws(() => loadSettings({ SFU_ICE_TRANSPORT_POLICY: 'relay' }), /needs TURN servers/);
	assert.throws(() => loadSettings({ SFU_ICE_TRANSPORT_POLICY: 'host' }), /all\|relay/);
	const s = loadSettings({ TURN_URLS: 'turn:127.0.0.1:3478', TURN_SECRET: 'x', SFU_ICE_TRANSPORT_POLICY: 'relay' });
	assert.equal(s.turn?.ttlS, 3600);
	assert.equal(s.iceTransportPolicy, 'relay');
	assert.equal(loadSettings({}).turn, undefined);
});

test('join hands each participant its own TURN credentials and the ICE policy', async () => {
	const sfu = await startSfu(
		{ TURN_URLS: 'turn:127.0.0.1:3478?transport=udp', TURN_SECRET: 'join-secret', TURN_CREDENTIAL_TTL_S: '120', SFU_ICE_TRANSPORT_POLICY: 'relay' },
		{ events: noEvents },
	);
	try {
		const before = Math.floor(Date.now() / 1000);
		const a = await TestClient.join(sfu, { room: 'turn-room', sub: 'ana' });
		const b = await TestClient.join(sfu, { room: 'turn-room', sub: 'ben' });
		assert.equal(a.joined.iceTransportPolicy, 'relay');
		const [ia] = a.joined.iceServers;
		const [ib] = b.joined.iceServers;
		assert.deepEqual(ia.urls, ['turn:127.0.0.1:3478?transport=udp']);
		const [expiry, who] = ia.username.split(':');
		assert.equal(who, 'ana');
		assert.ok(Number(expiry) >= before + 120 && Number(expiry) <= before + 125, ia.username);
		assert.equal(ia.credential, createHmac('sha1', 'join-secret').update(ia.username).digest('base64'));
		assert.match(ib.username, /:ben$/);
		assert.equal(a.joined.iceServersTtlS, 120);
		// Fresh credentials on request (the client refreshes before they expire, then restarts ICE).
		await new Promise((r) => setTimeout(r, 1100));
		const fresh = await a.request('getIceServers');
		assert.ok(fresh.ok, JSON.stringify(fresh.error));
		const [fa] = fresh.data.iceServers;
		assert.match(fa.username, /:ana$/);
		assert.ok(Number(fa.username.split(':')[0]) > Number(expiry), `${fa.username} after ${ia.username}`);
		assert.equal(fa.credential, createHmac('sha1', 'join-secret').update(fa.username).digest('base64'));
		a.close();
		b.close();
	} finally {
		await sfu.close();
	}
	const plain = await startSfu({}, { events: noEvents });
	try {
		const c = await TestClient.join(plain, { room: 'no-turn', sub: 'carl' });
		assert.deepEqual(c.joined.iceServers, []);
		assert.equal(c.joined.iceServersTtlS, 0);
		assert.deepEqual((await c.request('getIceServers')).data, { iceServers: [], iceServersTtlS: 0 });
		assert.equal(c.joined.iceTransportPolicy, 'all');
		c.close();
	} finally {
		await plain.close();
	}
});
