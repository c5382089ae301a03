import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Sfu } from '../src/Sfu.js';
import { eventually, opusRtpParameters, rtpPacket, startSfu, TestClient, udpSink, udpSender } from './helpers.js';

const noEvents = { publish(): void {}, async close(): Promise<void> {} };

/** GET /metrics and the value of every sample, keyed by `name{labels}` as written. */
async function scrape(sfu: Sfu): Promise<Map<string, number>> {
	const res = await fetch(`http://127.0.0.1:${sfu.server.port}/metrics`);
	assert.equal(res.status, 200);
	const samples = new Map<string, number>();
	for (const line of (await res.text()).split('\n')) {
		if (line === '' || line.startsWith('#')) continue;
		const cut = line.lastIndexOf(' ');
		samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
	}
	return samples;
}

/** The sample of `name` for worker `index` (any pid; mode for the CPU counter). */
function sample(samples: Map<string, number>, name: string, index: number, mode?: string): number {
	for (const [key, value] of samples) {
		if (!key.startsWith(`${name}{`) || !key.includes(`worker="${index}"`)) continue;
		if (mode !== undefined && !key.includes(`mode="${mode}"`)) continue;
		return value;
	}
	throw new Error(`no sample ${name} for worker ${index}${mode ? ` mode ${mode}` : ''}`);
}

const live = (s: Map<string, number>, i: number): number[] =>
	['transports', 'producers', 'consumers'].map((k) => sample(s, `parley_sfu_worker_${k}`, i));

describe('per-worker metrics: CPU seconds and live transports/producers/consumers', () => {
	let sfu: Sfu;
	let gateway: Awaited<ReturnType<typeof udpSink>>;

	before(async () => {
		gateway = await udpSink();
		sfu = await startSfu(
			{ SFU_NUM_WORKERS: '2', GATEWAY_RTP_PORT: String(gateway.port), SFU_ALLOW_PLAIN_INGEST: '1' },
			{ events: noEvents },
		);
	});
	after(async () => {
		await sfu.close();
		gateway.socket.close();
	});

	test('every worker has its series, labelled by index and pid, all zero before any room', async () => {
		const s = await scrape(sfu);
		for (const [i, w] of sfu.pool.workers.entries()) {
			for (const k of ['transports', 'producers', 'consumers']) {
				assert.equal(s.get(`parley_sfu_worker_${k}{worker="${i}",pid="${w.pid}"}`), 0, `${k} of worker ${i}`);
			}
			assert.ok(s.has(`parley_sfu_worker_cpu_seconds_total{worker="${i}",pid="${w.pid}",mode="user"}`));
			assert.ok(s.has(`parley_sfu_worker_cpu_seconds_total{worker="${i}",pid="${w.pid}",mode="system"}`));
		}
	});

	test('gauges follow transports, producers and consumers as they open and close; CPU seconds grow', async () => {
		const host = await TestClient.join(sfu, { room: 'metrics-a', sub: 'speaker' });
		const index = sfu.pool.workers.indexOf(sfu.registry.get('metrics-a')!.worker);
		assert.ok(index >= 0);
		const other = 1 - index;
		const s0 = await scrape(sfu);
		// The room's gateway PlainTransport exists from the start.
		assert.deepEqual(live(s0, index), [1, 0, 0]);
		const cpu0 = sample(s0, 'parley_sfu_worker_cpu_seconds_total', index, 'user');

		const webrtc = await host.request('createWebRtcTransport', { direction: 'recv' });
		assert.ok(webrtc.ok, JSON.stringify(webrtc.error));
		assert.deepEqual(live(await scrape(sfu), index), [2, 0, 0]);

		const { socket: sender, source } = await udpSender();
		const ingest = await host.request('createPlainTransport', source);
		assert.ok(ingest.ok, JSON.stringify(ingest.error));
		const SSRC = 0x51a7e;
		const produced = await host.request('produce', {
			transportId: ingest.data.id,
			kind: 'audio',
			rtpParameters: opusRtpParameters(SSRC),
		});
		assert.ok(produced.ok, JSON.stringify(produced.error));
		// One producer, and the gateway's consumer of it.
		const s1 = await eventually(async () => {
			const s = await scrape(sfu);
			return sample(s, 'parley_sfu_worker_consumers', index) === 1 ? s : undefined;
		}, 'the gateway consumer in the metrics');
		assert.deepEqual(live(s1, index), [3, 1, 1]);
		assert.deepEqual(live(s1, other), [0, 0, 0], 'the other worker holds nothing');

		// Work for the worker: 2000 RTP packets in and out again to the gateway.
		for (let i = 0; i < 2000; i++) {
			sender.send(rtpPacket(SSRC, i, 960 * i), ingest.data.port, ingest.data.ip);
			if (i % 50 === 0) await new Promise((r) => setImmediate(r));
		}
		await eventually(() => (gateway.packets.length >= 1000 ? true : undefined), 'RTP at the gateway');
		sender.close();
		const s2 = await scrape(sfu);
		const cpu2 = sample(s2, 'parley_sfu_worker_cpu_seconds_total', index, 'user');
		const sys2 = sample(s2, 'parley_sfu_worker_cpu_seconds_total', index, 'system');
		assert.ok(cpu2 >= cpu0, `user CPU went down: ${cpu0} -> ${cpu2}`);
		assert.ok(cpu2 + sys2 > 0, 'the worker used no CPU at all');

		assert.ok((await host.request('closeProducer', { producerId: produced.data.producerId })).ok);
		await eventually(async () => {
			const s = await scrape(sfu);
			return sample(s, 'parley_sfu_worker_producers', index) === 0 ? s : undefined;
		}, 'the producer gone from the metrics');
		assert.deepEqual(live(await scrape(sfu), index), [3, 0, 0], 'the gateway consumer closed with its producer');

		host.close();
		// The peer's transports close with it; the room (and its gateway transport) when empty.
		await eventually(async () => {
			const s = await scrape(sfu);
			return live(s, index).every((v) => v === 0) ? true : undefined;
		}, 'every gauge back to 0 after the room closed');
		const s3 = await scrape(sfu);
		assert.ok(sample(s3, 'parley_sfu_worker_cpu_seconds_total', index, 'user') >= cpu2, 'the counter went down');
	});
});
