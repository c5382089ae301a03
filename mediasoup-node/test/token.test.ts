import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RequestError } from '../src/errors.js';
import { loadSettings, SettingsError } from '../src/settings.js';
import { signJoinToken, verifyJoinToken } from '../src/token.js';

const SECRET = 'unit-secret';
const now = 1_800_000_000;
const claims = { room: 'r1', sub: 'p1', name: 'Ana', role: 'guest' as const, iat: now, exp: now + 60 };

function refused(fn: () => unknown, message: RegExp): void {
	assert.throws(fn, (err: unknown) => err instanceof RequestError && err.code === 'UNAUTHORIZED' && message.test(err.message));
}

test('a signed token verifies and returns its claims', () => {
	assert.deepEqual(verifyJoinToken(signJoinToken(claims, SECRET), SECRET, now), claims);
});

test('expired, tampered, wrongly signed and malformed tokens are refused', () => {
	const t = signJoinToken(claims, SECRET);
	refused(() => verifyJoinToken(t, SECRET, now + 60 + 31), /expired/);
	refused(() => verifyJoinToken(t, 'other-secret', now), /signature/);
	const [h, , s] = t.split('.');
	const forged = Buffer.from(JSON.stringify({ ...claims, role: 'host' })).toString('base64url');
	refused(() => verifyJoinToken(`${h}.${forged}.${s}`, SECRET, now), /signature/);
	refused(() => verifyJoinToken('abc', SECRET, now), /malformed/);
	refused(() => verifyJoinToken(undefined, SECRET, now), /missing/);
	refused(() => verifyJoinToken(`${h}.${forged}.`, SECRET, now), /signature/);
});

test('alg other than HS256 (e.g. none) is refused', () => {
	const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
	const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
	refused(() => verifyJoinToken(`${h}.${p}.`, SECRET, now), /HS256/);
});

test('bad claims are refused', () => {
	refused(() => verifyJoinToken(signJoinToken({ ...claims, role: 'admin' as never }, SECRET), SECRET, now), /role/);
	refused(() => verifyJoinToken(signJoinToken({ ...claims, room: '../x' }, SECRET), SECRET, now), /room/);
	refused(() => verifyJoinToken(signJoinToken({ ...claims, iat: now + 3600 }, SECRET), SECRET, now), /future/);
});

test('outside development the placeholder, an empty or a short secret is refused (one rule with the gateway)', () => {
	// PARLEY_ENV unset is development (local runs); the images set production.
	for (const env of ['production', 'staging', 'prod']) {
		const e = { PARLEY_ENV: env };
		assert.throws(() => loadSettings(e), /JOIN_TOKEN_SECRET/, env);
		assert.throws(() => loadSettings({ ...e, JOIN_TOKEN_SECRET: '' }), /JOIN_TOKEN_SECRET/, env);
		assert.throws(() => loadSettings({ ...e, JOIN_TOKEN_SECRET: 'dev-secret-change-me' }), /placeholder/, env);
		assert.throws(() => loadSettings({ ...e, JOIN_TOKEN_SECRET: 'x'.repeat(31) }), /at least 32/, env);
		assert.equal(loadSettings({ ...e, JOIN_TOKEN_SECRET: 'x'.repeat(32) }).joinTokenSecret, 'x'.repeat(32));
		const turn = { ...e, JOIN_TOKEN_SECRET: 'x'.repeat(40), TURN_URLS: 'turn:127.0.0.1:3478' };
		assert.throws(() => loadSettings({ ...turn, TURN_SECRET: 'short' }), /TURN_SECRET must be at least 32/, env);
	}
	const s = loadSettings({ PARLEY_ENV: 'production', JOIN_TOKEN_SECRET: 'x'.repeat(40) });
	assert.equal(s.wsPort, 4443);
	assert.equal(loadSettings({}).joinTokenSecret, 'dev-secret-change-me');
	assert.equal(loadSettings({ PARLEY_ENV: 'development' }).env, 'development');
	assert.throws(() => loadSettings({ SFU_WS_PORT: 'abc' }), SettingsError);
});
