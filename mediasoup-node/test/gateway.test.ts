import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';

import type { Sfu } from '../src/Sfu.js';
import {
	eventually,
	opusRtpParameters,
	readEvents,
	rtpPacket,
	startSfu,
	TEST_REDIS_URL,
	TestClient,
	udpSender,
	udpSink,
} from './helpers.js';

describe('audio to the gateway: PlainTransport RTP + sfu:events in Redis', () => {
	let sfu: Sfu;
	let redis: Redis;
	let gateway: Awaited<ReturnType<typeof udpSink>>;

	before(async () => {
		redis = new Redis(TEST_REDIS_URL);
		gateway = await udpSink();
		sfu = await startSfu({ GATEWAY_RTP_PORT: String(gateway.port), SFU_ALLOW_PLAIN_INGEST: '1' });
	});
	after(async () => {
		await sfu.close();
		gateway.socket.close();
		await redis.quit();
	});

	test('RTP sent by a producer comes out at the gateway with the announced SSRC', async () => {
		const since = `${Date.now() - 1}-0`;
		const host = await TestClient.join(sfu, { room: 'r-gw', sub: 'speaker-1', name: 'Speaker One' });
		const { socket: sender, source } = await udpSender();
		const ingest = await host.request('createPlainTransport', source);
		assert.ok(ingest.ok, JSON.stringify(ingest.error));
		const SSRC_IN = 0x0badcafe;
		const produced = await host.request('produce', {
			transportId: ingest.data.id,
			kind: 'audio',
			rtpParameters: opusRtpParameters(SSRC_IN),
		});
		assert.ok(produced.ok, JSON.stringify(produced.error));
		const producerId: string = produced.data.producerId;

		const open = await eventually(async () => {
			const evs = await readEvents(redis, since);
			return evs.find((e) => e['type'] === 'producer.open' && e['producer'] === producerId);
		}, 'producer.open in sfu:events');
		assert.equal(open['v'], '1');
		assert.equal(open['room'], 'r-gw');
		assert.equal(open['peer'], 'speaker-1');
		assert.equal(open['name'], 'Speaker One');
		assert.equal(open['clock_rate'], '48000');
		assert.match(open['ts'] ?? '', /^\d{13}$/);
		const ssrc = Number(open['ssrc']);
		const pt = Number(open['pt']);
		assert.ok(ssrc > 0 && pt >= 96 && pt <= 127, JSON.stringify(open));

		const SENT = 100;
		for (let i = 0; i < SENT; i++) {
			sender.send(rtpPacket(SSRC_IN, 1000 + i, 960 * i), ingest.data.port, ingest.data.ip);
			await new Promise((r) => setTimeout(r, 2));
		}
		await eventually(() => (gateway.packets.filter(isRtp).length >= SENT * 0.95 ? true : undefined), 'RTP at the gateway', 3000);
		sender.close();

		const rtp = gateway.packets.filter(isRtp);
		for (const p of rtp) {
			assert.equal(p.readUInt32BE(8), ssrc, 'forwarded with the announced SSRC');
			assert.equal(p[1]! & 0x7f, pt, 'forwarded with the announced payload type');
		}
		assert.ok(rtp.length >= SENT * 0.95, `${rtp.length}/${SENT} packets forwarded`);

		assert.ok((await host.request('pauseProducer', { producerId })).ok);
		assert.ok((await host.request('resumeProducer', { producerId })).ok);
		host.close();
		const types = await eventually(async () => {
			const evs = (await readEvents(redis, since)).filter((e) => e['producer'] === producerId);
			return evs.some((e) => e['type'] === 'producer.close') ? evs.map((e) => e['type']) : undefined;
		}, 'producer.close in sfu:events');
		assert.deepEqual(types, ['producer.open', 'producer.pause', 'producer.resume', 'producer.close']);
		const close = (await readEvents(redis, since)).find((e) => e['type'] === 'producer.close');
		assert.equal(close?.['ssrc'], String(ssrc));
	});

	test('the stream is capped (MAXLEN ~) and plain ingest is refused when disabled', async () => {
		const info = (await redis.call('XINFO', 'STREAM', 'sfu:events')) as unknown[];
		const length = Number(info[info.indexOf('length') + 1]);
		assert.ok(length <= 10100, `stream length ${length}`);
		const other = await startSfu({ GATEWAY_RTP_PORT: String(gateway.port) });
		try {
			const c = await TestClient.join(other, { room: 'r-noingest', sub: 'x' });
			assert.equal((await c.request('createPlainTransport')).error?.code, 'FORBIDDEN');
			c.close();
		} finally {
			await other.close();
		}
	});
});

describe('the gateway named by host name (a deployment: GATEWAY_RTP_HOST=gateway)', () => {
	test('the name is resolved and RTP arrives at its address', async () => {
		const gateway = await udpSink();
		const sfu = await startSfu({
			GATEWAY_RTP_HOST: 'localhost',
			GATEWAY_RTP_PORT: String(gateway.port),
			SFU_ALLOW_PLAIN_INGEST: '1',
		});
		try {
			const host = await TestClient.join(sfu, { room: 'r-gw-name', sub: 'speaker-2' });
			const { socket: sender, source } = await udpSender();
			const ingest = await host.request('createPlainTransport', source);
			assert.ok(ingest.ok, JSON.stringify(ingest.error));
			const SSRC_IN = 0x0badbeef;
			const produced = await host.request('produce', {
				transportId: ingest.data.id,
				kind: 'audio',
				rtpParameters: opusRtpParameters(SSRC_IN),
			});
			assert.ok(produced.ok, JSON.stringify(produced.error));
			for (let i = 0; i < 20; i++) {
				sender.send(rtpPacket(SSRC_IN, 1000 + i, 960 * i), ingest.data.port, ingest.data.ip);
				await new Promise((r) => setTimeout(r, 2));
			}
			await eventually(() => (gateway.packets.filter(isRtp).length >= 15 ? true : undefined), 'RTP at localhost', 3000);
			sender.close();
			host.close();
		} finally {
			await sfu.close();
			gateway.socket.close();
		}
	});
});

/** RTP, not RTCP (rtcp-mux: RTCP packet types 200-204 share the port). */
function isRtp(p: Buffer): boolean {
	return p.length >= 12 && (p[0]! >> 6) === 2 && !(p[1]! >= 200 && p[1]! <= 204);
}
