import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Sfu } from '../src/Sfu.js';
import type { ProducerEventType, ProducerStream } from '../src/SfuEvents.js';
import { startSfu, TestClient } from './helpers.js';

/** Records what would go to the gateway (sfu:events): video must never be announced there. */
class RecordingSink {
	readonly events: Array<{ type: ProducerEventType; stream: ProducerStream }> = [];
	publish(type: ProducerEventType, stream: ProducerStream): void {
		this.events.push({ type, stream });
	}
	async close(): Promise<void> {}
}

/** RTP parameters like mediasoup-client sends for a browser's VP8 camera track. */
function vp8RtpParameters(ssrc: number): Record<string, unknown> {
	return {
		mid: '1',
		codecs: [
			{
				mimeType: 'video/VP8',
				payloadType: 96,
				clockRate: 90000,
				parameters: {},
				rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
			},
			{ mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 }, rtcpFeedback: [] },
		],
		headerExtensions: [],
		encodings: [{ ssrc, rtx: { ssrc: ssrc + 1 } }],
		rtcp: { cname: 'test-cname', reducedSize: true },
	};
}

describe('video (camera) producers against a real worker', () => {
	let sfu: Sfu;
	const sink = new RecordingSink();
	const clients: TestClient[] = [];

	before(async () => {
		sfu = await startSfu({}, { events: sink });
	});
	after(async () => {
		for (const c of clients) c.close();
		await sfu.close();
	});

	test('the router offers VP8; a camera is produced, consumed, and closed, and never sent to the gateway', async () => {
		const alice = await TestClient.join(sfu, { room: 'r-video', sub: 'alice', name: 'Alice' });
		const bob = await TestClient.join(sfu, { room: 'r-video', sub: 'bob', name: 'Bob', role: 'listener' });
		clients.push(alice, bob);
		const codecs = alice.joined.routerRtpCapabilities.codecs as Array<{ mimeType: string }>;
		assert.ok(codecs.some((c) => c.mimeType === 'video/VP8'), JSON.stringify(codecs));

		const send = await alice.request('createWebRtcTransport', { direction: 'send' });
		const produced = await alice.request('produce', { transportId: send.data.id, kind: 'video', rtpParameters: vp8RtpParameters(0x5000) });
		assert.ok(produced.ok, JSON.stringify(produced.error));
		const producerId: string = produced.data.producerId;
		const announced = await bob.waitFor('newProducer', (n) => n.data.producerId === producerId);
		assert.deepEqual(announced.data, { producerId, peerId: 'alice', name: 'Alice', kind: 'video', paused: false });

		assert.ok((await bob.request('setRtpCapabilities', { rtpCapabilities: bob.joined.routerRtpCapabilities })).ok);
		const recv = await bob.request('createWebRtcTransport', { direction: 'recv' });
		const consumed = await bob.request('consume', { transportId: recv.data.id, producerId });
		assert.ok(consumed.ok, JSON.stringify(consumed.error));
		assert.equal(consumed.data.kind, 'video');
		assert.equal(consumed.data.peerId, 'alice');
		assert.equal(consumed.data.rtpParameters.codecs[0].mimeType, 'video/VP8');
		assert.ok((await bob.request('resumeConsumer', { consumerId: consumed.data.consumerId })).ok);

		// A late joiner is told of the camera too.
		const carol = await TestClient.join(sfu, { room: 'r-video', sub: 'carol', name: 'Carol' });
		clients.push(carol);
		assert.deepEqual(
			(carol.joined.producers as Array<{ kind: string }>).map((p) => p.kind),
			['video'],
		);

		// Camera off: the producer closes, the consumer with it.
		assert.ok((await alice.request('closeProducer', { producerId })).ok);
		const closed = await bob.waitFor('consumerClosed');
		assert.deepEqual(closed.data, { consumerId: consumed.data.consumerId, producerId });
		assert.equal(sink.events.filter((e) => e.stream.producer === producerId).length, 0, 'video is not forwarded to the gateway');
	});
});
