import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Sfu } from '../src/Sfu.js';
import type { ProducerEventType, ProducerStream } from '../src/SfuEvents.js';
import { eventually, opusRtpParameters, startSfu, TestClient, token } from './helpers.js';

/** Records events instead of writing to Redis (the Redis path has its own test). */
class RecordingSink {
	readonly events: Array<{ type: ProducerEventType; stream: ProducerStream }> = [];
	publish(type: ProducerEventType, stream: ProducerStream): void {
		this.events.push({ type, stream });
	}
	async close(): Promise<void> {}
}

describe('signalling against a real worker', () => {
	let sfu: Sfu;
	const sink = new RecordingSink();
	const clients: TestClient[] = [];
	const join = async (claims: Parameters<typeof TestClient.join>[1]): Promise<TestClient> => {
		const c = await TestClient.join(sfu, claims);
		clients.push(c);
		return c;
	};

	before(async () => {
		sfu = await startSfu({}, { events: sink });
	});
	after(async () => {
		for (const c of clients) c.close();
		await sfu.close();
	});

	test('join returns router capabilities; peers are told who joined and who left', async () => {
		const alice = await join({ room: 'r-join', sub: 'alice', name: 'Alice' });
		assert.equal(alice.joined.peerId, 'alice');
		assert.ok(Array.isArray(alice.joined.routerRtpCapabilities.codecs));
		assert.deepEqual(alice.joined.peers, []);
		const bob = await join({ room: 'r-join', sub: 'bob', name: 'Bob', role: 'guest' });
		assert.deepEqual(bob.joined.peers, [{ id: 'alice', name: 'Alice', role: 'host' }]);
		const joined = await alice.waitFor('peerJoined');
		assert.deepEqual(joined.data, { id: 'bob', name: 'Bob', role: 'guest' });
		const caps = await bob.request('getRouterRtpCapabilities');
		assert.ok(caps.ok && caps.data.rtpCapabilities.codecs.length > 0);
		const left = await bob.request('leave');
		assert.equal(left.ok, true);
		assert.equal((await bob.closed).code, 1000);
		assert.deepEqual((await alice.waitFor('peerLeft')).data, { peerId: 'bob' });
	});

	test('bad tokens are refused with UNAUTHORIZED and the socket is closed', async () => {
		const cases: Array<[string, Record<string, unknown>, RegExp]> = [
			['missing', { room: 'r-auth' }, /missing token/],
			['expired', { room: 'r-auth', token: token({ room: 'r-auth', exp: 1000, iat: 900 }) }, /expired/],
			['other secret', { room: 'r-auth', token: token({ room: 'r-auth' }, 'not-the-secret') }, /signature/],
			['other room', { room: 'r-auth', token: token({ room: 'r-other' }) }, /another room/],
			['tampered', { room: 'r-auth', token: `${token({ room: 'r-auth' })}x` }, /signature|malformed/],
		];
		for (const [what, data, message] of cases) {
			const c = await TestClient.connect(sfu);
			const res = await c.request('join', data);
			assert.equal(res.ok, false, what);
			assert.equal(res.error?.code, 'UNAUTHORIZED', what);
			assert.match(res.error?.message ?? '', message, what);
			assert.equal((await c.closed).code, 4401, what);
		}
		const early = await TestClient.connect(sfu);
		const res = await early.request('getRouterRtpCapabilities');
		assert.equal(res.error?.code, 'UNAUTHORIZED');
		assert.equal((await early.closed).code, 4401);
		assert.equal(sfu.registry.get('r-auth'), undefined, 'no room was created for refused peers');
	});

	test('bad requests get error responses, and the connection keeps working', async () => {
		const c = await join({ room: 'r-bad', sub: 'carol' });
		const invalidJson = await c.sendRaw('{not json', null);
		assert.equal(invalidJson.error?.code, 'BAD_REQUEST');
		const noMethod = await c.sendRaw(JSON.stringify({ id: 'x1' }), 'x1');
		assert.equal(noMethod.error?.code, 'BAD_REQUEST');
		assert.equal((await c.request('noSuchMethod')).error?.code, 'BAD_REQUEST');
		assert.equal((await c.request('createWebRtcTransport', { direction: 'sideways' })).error?.code, 'BAD_REQUEST');
		assert.equal((await c.request('connectWebRtcTransport', { transportId: 'nope', dtlsParameters: {} })).error?.code, 'NOT_FOUND');
		assert.equal((await c.request('consume', { transportId: 42 })).error?.code, 'NOT_FOUND');
		assert.equal((await c.request('setRtpCapabilities', { rtpCapabilities: 'x' })).error?.code, 'BAD_REQUEST');
		assert.equal((await c.request('produce', 'not-an-object')).error?.code, 'BAD_REQUEST');
		const t = await c.request('createWebRtcTransport', { direction: 'send' });
		assert.ok(t.ok);
		const garbage = await c.request('produce', { transportId: t.data.id, kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'nonsense' }] } });
		assert.equal(garbage.ok, false);
		assert.equal(garbage.error?.code, 'BAD_REQUEST');
		const badDtls = await c.request('connectWebRtcTransport', { transportId: t.data.id, dtlsParameters: { fingerprints: 'x' } });
		assert.equal(badDtls.ok, false);
		assert.notEqual(badDtls.error?.code, 'INTERNAL');
		assert.equal((await c.request('join', { room: 'r-bad', token: token({ room: 'r-bad', sub: 'carol' }) })).error?.code, 'INVALID_STATE');
		assert.ok((await c.request('getRouterRtpCapabilities')).ok, 'still usable after errors');
	});

	test('oversized messages and request floods close the socket, not the server', async () => {
		const big = await join({ room: 'r-abuse', sub: 'big' });
		big.ws.send(JSON.stringify({ id: 1, method: 'getRouterRtpCapabilities', data: { pad: 'x'.repeat(300 * 1024) } }));
		assert.equal((await big.closed).code, 1009);
		const flood = await join({ room: 'r-abuse', sub: 'flood' });
		for (let i = 0; i < 500; i++) flood.ws.send(JSON.stringify({ id: i, method: 'getRouterRtpCapabilities' }));
		assert.equal((await flood.closed).code, 1008);
		const ok = await join({ room: 'r-abuse', sub: 'fine' });
		assert.ok((await ok.request('getRouterRtpCapabilities')).ok);
	});

	test('listeners may not send', async () => {
		const l = await join({ room: 'r-listen', sub: 'lee', role: 'listener' });
		assert.equal((await l.request('createWebRtcTransport', { direction: 'send' })).error?.code, 'FORBIDDEN');
		const recv = await l.request('createWebRtcTransport', { direction: 'recv' });
		assert.ok(recv.ok);
		const p = await l.request('produce', { transportId: recv.data.id, kind: 'audio', rtpParameters: opusRtpParameters(1) });
		assert.equal(p.error?.code, 'FORBIDDEN');
	});

	test('produce, consume, pause/resume and close reach the other peer and the gateway', async () => {
		const alice = await join({ room: 'r-media', sub: 'alice', name: 'Alice' });
		const bob = await join({ room: 'r-media', sub: 'bob', name: 'Bob', role: 'listener' });

		const send = await alice.request('createWebRtcTransport', { direction: 'send' });
		assert.ok(send.ok, JSON.stringify(send.error));
		assert.equal(send.data.iceCandidates[0].address, '127.0.0.1');
		assert.equal(send.data.dtlsParameters.role, 'auto');
		const produced = await alice.request('produce', { transportId: send.data.id, kind: 'audio', rtpParameters: opusRtpParameters(0x1234) });
		assert.ok(produced.ok, JSON.stringify(produced.error));
		const producerId = produced.data.producerId;

		const announced = (await bob.waitFor('newProducer')).data;
		assert.deepEqual(announced, { producerId, peerId: 'alice', name: 'Alice', kind: 'audio', paused: false });
		const open = sink.events.find((e) => e.type === 'producer.open' && e.stream.producer === producerId);
		assert.ok(open, 'gateway told of the new producer');
		assert.equal(open.stream.room, 'r-media');
		assert.equal(open.stream.peer, 'alice');
		assert.equal(open.stream.name, 'Alice');
		assert.equal(open.stream.clockRate, 48000);
		assert.ok(open.stream.ssrc > 0);
		assert.deepEqual(sfu.registry.get('r-media')?.gateway.streamOf(producerId), open.stream);

		const recv = await bob.request('createWebRtcTransport', { direction: 'recv' });
		assert.equal((await bob.request('consume', { transportId: recv.data.id, producerId })).error?.code, 'INVALID_STATE');
		assert.ok((await bob.request('setRtpCapabilities', { rtpCapabilities: bob.joined.routerRtpCapabilities })).ok);
		const consumed = await bob.request('consume', { transportId: recv.data.id, producerId });
		assert.ok(consumed.ok, JSON.stringify(consumed.error));
		assert.equal(consumed.data.kind, 'audio');
		assert.equal(consumed.data.peerId, 'alice');
		assert.equal(consumed.data.rtpParameters.codecs[0].mimeType, 'audio/opus');
		assert.ok((await bob.request('resumeConsumer', { consumerId: consumed.data.consumerId })).ok);

		assert.ok((await alice.request('pauseProducer', { producerId })).ok);
		await bob.waitFor('producerPaused');
		await bob.waitFor('consumerPaused');
		await eventually(() => sink.events.find((e) => e.type === 'producer.pause' && e.stream.producer === producerId), 'producer.pause');
		assert.ok((await alice.request('resumeProducer', { producerId })).ok);
		await bob.waitFor('producerResumed');
		await eventually(() => sink.events.find((e) => e.type === 'producer.resume' && e.stream.producer === producerId), 'producer.resume');

		assert.ok((await alice.request('closeProducer', { producerId })).ok);
		assert.deepEqual((await bob.waitFor('consumerClosed')).data, { consumerId: consumed.data.consumerId, producerId });
		await bob.waitFor('producerClosed');
		await eventually(
			() => sink.events.find((e) => e.type === 'producer.close' && e.stream.producer === producerId),
			'producer.close to the gateway',
		);
	});

	test('a peer that leaves closes its producers (gateway told) and late joiners see existing producers', async () => {
		const alice = await join({ room: 'r-late', sub: 'alice', name: 'Alice' });
		const send = await alice.request('createWebRtcTransport', { direction: 'send' });
		const { data } = await alice.request('produce', { transportId: send.data.id, kind: 'audio', rtpParameters: opusRtpParameters(777) });
		const late = await join({ room: 'r-late', sub: 'dave', name: 'Dave' });
		assert.deepEqual(late.joined.producers, [{ producerId: data.producerId, peerId: 'alice', name: 'Alice', kind: 'audio', paused: false }]);
		alice.close();
		await late.waitFor('peerLeft');
		await late.waitFor('producerClosed');
		await eventually(
			() => sink.events.find((e) => e.type === 'producer.close' && e.stream.producer === data.producerId),
			'producer.close to the gateway',
		);
	});

	test('the same peer id joining again replaces the old connection', async () => {
		const first = await join({ room: 'r-dup', sub: 'erin' });
		const second = await join({ room: 'r-dup', sub: 'erin' });
		assert.equal((await first.closed).code, 4409);
		assert.equal(sfu.registry.get('r-dup')?.peerCount, 1);
		assert.ok((await second.request('getRouterRtpCapabilities')).ok);
	});

	test('concurrent joins create one room', async () => {
		const many = await Promise.all(['p1', 'p2', 'p3', 'p4', 'p5'].map((sub) => join({ room: 'r-race', sub })));
		assert.equal(many.length, 5);
		assert.equal(sfu.registry.get('r-race')?.peerCount, 5);
		assert.equal(sfu.registry.rooms().filter((r) => r.slug === 'r-race').length, 1);
	});

	test('an empty room is closed and its worker slot released', async () => {
		const c = await join({ room: 'r-empty', sub: 'z' });
		assert.ok(sfu.registry.get('r-empty'));
		c.close();
		await c.closed;
		for (let i = 0; i < 100 && sfu.registry.get('r-empty'); i++) await new Promise((r) => setTimeout(r, 20));
		assert.equal(sfu.registry.get('r-empty'), undefined);
	});
});
