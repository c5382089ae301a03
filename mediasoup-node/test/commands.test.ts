import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';

import { removedKey } from '../src/Admission.js';
import type { Sfu } from '../src/Sfu.js';
import { parseCommand } from '../src/SfuCommands.js';
import { eventually, opusRtpParameters, readEvents, startSfu, TEST_REDIS_URL, TestClient, token } from './helpers.js';

const command = (redis: Redis, type: string, room: string, peer = ''): Promise<string | null> =>
	redis.xadd('sfu:commands', 'MAXLEN', '~', '10000', '*', 'v', '1', 'type', type, 'room', room, 'peer', peer, 'by', 'admin-1', 'ts', String(Date.now()));

describe('host commands (sfu:commands) and the removed list', () => {
	let sfu: Sfu;
	let redis: Redis;

	before(async () => {
		redis = new Redis(TEST_REDIS_URL);
		sfu = await startSfu();
	});
	after(async () => {
		await sfu.close();
		await redis.quit();
	});

	test('a participant on the removed list is refused with FORBIDDEN and 4403', async () => {
		await redis.sadd(removedKey('r-removed'), 'mallory');
		try {
			const c = await TestClient.connect(sfu);
			const res = await c.request('join', { room: 'r-removed', token: token({ room: 'r-removed', sub: 'mallory' }) });
			assert.equal(res.error?.code, 'FORBIDDEN');
			assert.equal((await c.closed).code, 4403);
			const ok = await TestClient.join(sfu, { room: 'r-removed', sub: 'alice' });
			ok.close();
		} finally {
			await redis.del(removedKey('r-removed'));
		}
	});

	test('mute pauses the audio producer, remove disconnects, close ends the room', async () => {
		const since = `${Date.now() - 1}-0`;
		const alice = await TestClient.join(sfu, { room: 'r-cmd', sub: 'alice', name: 'Alice' });
		const bob = await TestClient.join(sfu, { room: 'r-cmd', sub: 'bob', name: 'Bob' });
		const send = await alice.request('createWebRtcTransport', { direction: 'send' });
		const { data } = await alice.request('produce', { transportId: send.data.id, kind: 'audio', rtpParameters: opusRtpParameters(4321) });

		await command(redis, 'mute', 'r-cmd', 'alice');
		assert.deepEqual((await alice.waitFor('mutedByHost')).data, { by: 'admin-1' });
		await bob.waitFor('producerPaused', (n) => n.data.producerId === data.producerId);
		await eventually(async () => {
			const evs = await readEvents(redis, since);
			return evs.find((e) => e['type'] === 'producer.pause' && e['producer'] === data.producerId);
		}, 'producer.pause in sfu:events');

		await command(redis, 'remove', 'r-cmd', 'bob');
		assert.equal((await bob.closed).code, 4403);
		await alice.waitFor('peerLeft', (n) => n.data.peerId === 'bob');

		await command(redis, 'mute', 'r-elsewhere', 'alice'); // another SFU's room: ignored
		await command(redis, 'close', 'r-cmd');
		assert.equal((await alice.closed).code, 4410);
		await eventually(() => (sfu.registry.get('r-cmd') === undefined ? true : undefined), 'room closed');
		assert.ok(sfu.commands.applied >= 3);
	});

	test('malformed commands are ignored', () => {
		assert.equal(parseCommand(['v', '2', 'type', 'mute', 'room', 'r', 'peer', 'p']), undefined);
		assert.equal(parseCommand(['v', '1', 'type', 'explode', 'room', 'r', 'peer', 'p']), undefined);
		assert.equal(parseCommand(['v', '1', 'type', 'mute', 'room', 'r']), undefined);
		assert.deepEqual(parseCommand(['v', '1', 'type', 'close', 'room', 'r']), { type: 'close', room: 'r', peer: '', by: '' });
		assert.deepEqual(parseCommand(['v', '1', 'type', 'unmute', 'room', 'r', 'peer', 'p', 'by', 'h']), { type: 'unmute', room: 'r', peer: 'p', by: 'h' });
		assert.equal(parseCommand(['v', '1', 'type', 'unmute', 'room', 'r']), undefined);
	});
});
