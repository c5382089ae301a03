import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { GatewayForwarder } from '../src/GatewayForwarder.js';
import { loadSettings, SettingsError } from '../src/settings.js';
import type { Sfu } from '../src/Sfu.js';
import type { ProducerEventType, ProducerStream } from '../src/SfuEvents.js';
import { eventually, opusRtpParameters, rtpPacket, startSfu, TestClient, udpSink, udpSender } from './helpers.js';

/** Records events instead of writing to Redis (the Redis path has its own test in gateway.test.ts). */
class RecordingSink {
	readonly events: Array<{ type: ProducerEventType; stream: ProducerStream }> = [];
	publish(type: ProducerEventType, stream: ProducerStream): void {
		this.events.push({ type, stream });
	}
	async close(): Promise<void> {}
}

type Sink = Awaited<ReturnType<typeof udpSink>>;

/** RTP (not RTCP) datagrams a sink got, as [ssrc, seq, timestamp]. */
function rtpOf(sink: Sink): Array<[number, number, number]> {
	return sink.packets
		.filter((p) => p.length >= 12 && p[0]! >> 6 === 2 && !(p[1]! >= 200 && p[1]! <= 204))
		.map((p) => [p.readUInt32BE(8), p.readUInt16BE(2), p.readUInt32BE(4)]);
}

async function sinkOn(address: string, port = 0): Promise<Sink> {
	const socket = dgram.createSocket('udp4');
	const packets: Buffer[] = [];
	socket.on('message', (msg) => packets.push(msg));
	await new Promise<void>((resolve) => socket.bind(port, address, () => resolve()));
	return { socket, port: (socket.address() as AddressInfo).port, packets };
}

/** A speaker producing plain RTP into `room`; `send(n)` sends n more 20 ms packets. */
async function speaker(sfu: Sfu, room: string, sub: string) {
	const client = await TestClient.join(sfu, { room, sub, name: sub });
	const { socket: sender, source } = await udpSender();
	const ingest = await client.request('createPlainTransport', source);
	assert.ok(ingest.ok, JSON.stringify(ingest.error));
	const ssrcIn = 0x5eed0000 + sub.length;
	const produced = await client.request('produce', {
		transportId: ingest.data.id,
		kind: 'audio',
		rtpParameters: opusRtpParameters(ssrcIn),
	});
	assert.ok(produced.ok, JSON.stringify(produced.error));
	let seq = 0;
	return {
		client,
		producerId: produced.data.producerId as string,
		async send(n: number): Promise<void> {
			for (let i = 0; i < n; i++, seq++) {
				sender.send(rtpPacket(ssrcIn, 1000 + seq, 7_000_000 + 960 * seq), ingest.data.port, ingest.data.ip);
				await new Promise((r) => setTimeout(r, 2));
			}
		},
		close(): void {
			sender.close();
			client.close();
		},
	};
}

describe('every producer to every ingest target (two parley-ingest replicas)', () => {
	let sfu: Sfu;
	let a: Sink;
	let b: Sink;
	const events = new RecordingSink();

	before(async () => {
		a = await udpSink();
		b = await udpSink();
		sfu = await startSfu(
			{ INGEST_RTP_TARGETS: `127.0.0.1:${a.port},localhost:${b.port}`, SFU_ALLOW_PLAIN_INGEST: '1' },
			{ events },
		);
	});
	after(async () => {
		await sfu.close();
		a.socket.close();
		b.socket.close();
	});

	test('both receive it, each on its own SSRC, with the same RTP timestamps; one open lists both', async () => {
		const s = await speaker(sfu, 'r-two', 'ana');
		await s.send(50);
		await eventually(() => (rtpOf(a).length >= 48 && rtpOf(b).length >= 48 ? true : undefined), 'RTP at both');
		const open = events.events.find((e) => e.type === 'producer.open' && e.stream.producer === s.producerId);
		assert.ok(open);
		const [ssrcA] = new Set(rtpOf(a).map(([ssrc]) => ssrc));
		const [ssrcB] = new Set(rtpOf(b).map(([ssrc]) => ssrc));
		assert.deepEqual(open.stream.ssrcs, [ssrcA, ssrcB]);
		assert.equal(open.stream.ssrc, ssrcA);
		assert.notEqual(ssrcA, ssrcB);
		// The producer's timestamps on both legs: what lets the replicas agree on the timeline.
		assert.deepEqual(
			rtpOf(a).map(([, , ts]) => ts),
			rtpOf(b).map(([, , ts]) => ts),
		);
		assert.deepEqual(sfu.registry.get('r-two')?.gateway.legs.length, 2);
		s.close();
		await eventually(
			() => (events.events.some((e) => e.type === 'producer.close' && e.stream.producer === s.producerId) ? true : undefined),
			'producer.close',
		);
	});

	test('a listener consumes over a plain RTP recv transport (the load generator), and may not ingest', async () => {
		const s = await speaker(sfu, 'r-plain-recv', 'cleo');
		const listener = await TestClient.join(sfu, { room: 'r-plain-recv', sub: 'lee', role: 'listener' });
		const sink = await udpSink();
		try {
			const refused = await listener.request('createPlainTransport', { ip: '127.0.0.1', port: sink.port });
			assert.equal(refused.error?.code, 'FORBIDDEN'); // plain ingest is for hosts
			const recv = await listener.request('createPlainTransport', { direction: 'recv', ip: '127.0.0.1', port: sink.port });
			assert.ok(recv.ok, JSON.stringify(recv.error));
			const caps = listener.joined.routerRtpCapabilities;
			assert.ok((await listener.request('setRtpCapabilities', { rtpCapabilities: caps })).ok);
			const c = await listener.request('consume', { transportId: recv.data.id, producerId: s.producerId });
			assert.ok(c.ok, JSON.stringify(c.error));
			assert.ok((await listener.request('resumeConsumer', { consumerId: c.data.consumerId })).ok);
			await s.send(30);
			await eventually(() => (rtpOf(sink).length >= 25 ? true : undefined), 'RTP at the listener');
			assert.deepEqual(new Set(rtpOf(sink).map(([ssrc]) => ssrc)), new Set([c.data.rtpParameters.encodings[0].ssrc]));
		} finally {
			listener.close();
			s.close();
			sink.socket.close();
		}
	});

	test('INGEST_RTP_TARGETS is checked', () => {
		assert.throws(() => loadSettings({ INGEST_RTP_TARGETS: 'ingest' }), SettingsError);
		assert.throws(() => loadSettings({ INGEST_RTP_TARGETS: 'ingest:99999' }), SettingsError);
		assert.throws(() => loadSettings({ INGEST_RTP_TARGETS: Array(9).fill('h:1').join(',') }), SettingsError);
		assert.deepEqual(loadSettings({ INGEST_RTP_TARGETS: 'ingest:5004, [::1]:5006' }).ingestTargets, [
			{ host: 'ingest', port: 5004 },
			{ host: '::1', port: 5006 },
		]);
		assert.deepEqual(loadSettings({ GATEWAY_RTP_HOST: 'gw', GATEWAY_RTP_PORT: '6000' }).ingestTargets, [
			{ host: 'gw', port: 6000 },
		]);
	});
});

describe('an ingest task that comes back on another address (Swarm dnsrr)', () => {
	let sfu: Sfu;

	before(async () => {
		sfu = await startSfu({ SFU_ALLOW_PLAIN_INGEST: '1', GATEWAY_RTP_PORT: '9' });
	});
	after(async () => sfu.close());

	test('the new address gets a leg, the producer is announced again with its SSRC, the old leg closes', async () => {
		const old = await sinkOn('127.0.0.1');
		const moved = await sinkOn('127.0.0.2', old.port);
		const s = await speaker(sfu, 'r-move', 'ben');
		const room = sfu.registry.get('r-move');
		assert.ok(room);
		const found = room.findProducer(s.producerId);
		assert.ok(found);
		const events = new RecordingSink();
		let answer: string[] | Error = new Error('ENOTFOUND ingest');
		const forwarder = await GatewayForwarder.create(room.router, {
			room: 'r-move',
			listenIp: '127.0.0.1',
			announcedAddress: undefined,
			portRange: { min: 41000, max: 41999 },
			targets: [{ host: 'ingest', port: old.port }],
			resolveMs: 0, // refreshed by hand below
			events,
			resolve: async () => {
				if (answer instanceof Error) throw answer;
				return answer;
			},
		});
		try {
			// No ingest task yet: the producer is announced with no SSRC, nothing is sent.
			await forwarder.forward({ id: 'ben', name: 'ben' }, found.producer);
			assert.deepEqual(forwarder.legs, []);
			assert.deepEqual(events.events.map((e) => [e.type, e.stream.ssrcs]), [['producer.open', []]]);

			answer = ['127.0.0.1'];
			await forwarder.refresh();
			await s.send(20);
			await eventually(() => (rtpOf(old).length >= 18 ? true : undefined), 'RTP at the first address');
			const first = events.events.at(-1);
			assert.equal(first?.type, 'producer.open');
			assert.deepEqual(first?.stream.ssrcs, [rtpOf(old)[0]![0]]);

			answer = ['127.0.0.2']; // the task was restarted elsewhere
			await forwarder.refresh();
			assert.deepEqual(forwarder.legs, [`127.0.0.2:${old.port}`]);
			const sentBefore = rtpOf(old).length;
			await s.send(20);
			await eventually(() => (rtpOf(moved).length >= 18 ? true : undefined), 'RTP at the new address');
			assert.equal(rtpOf(old).length, sentBefore, 'nothing more to the old address');
			const again = events.events.at(-1);
			assert.equal(again?.type, 'producer.open');
			assert.deepEqual(again?.stream.ssrcs, [rtpOf(moved)[0]![0]]);

			answer = new Error('EAI_AGAIN'); // a failed lookup keeps what works
			await forwarder.refresh();
			assert.deepEqual(forwarder.legs, [`127.0.0.2:${old.port}`]);
		} finally {
			forwarder.close();
			s.close();
			old.socket.close();
			moved.socket.close();
		}
		assert.equal(events.events.at(-1)?.type, 'producer.close');
	});
});
