import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

import { Redis } from 'ioredis';
import WebSocket from 'ws';

import { loadSettings, type Settings } from '../src/settings.js';
import { Sfu, type SfuOptions } from '../src/Sfu.js';
import { signJoinToken, type Role } from '../src/token.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const TEST_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379/15';

export function testSettings(overrides: Record<string, string> = {}): Settings {
	if (!process.env['MEDIASOUP_WORKER_BIN']) {
		throw new Error('MEDIASOUP_WORKER_BIN must point at the worker built by scripts/build-worker.sh');
	}
	return loadSettings({
		MEDIASOUP_WORKER_BIN: process.env['MEDIASOUP_WORKER_BIN'],
		SFU_WS_PORT: '0',
		SFU_NUM_WORKERS: '1',
		SFU_LISTEN_IP: '127.0.0.1',
		SFU_RTC_MIN_PORT: '41000',
		SFU_RTC_MAX_PORT: '41999',
		SFU_WEBRTC_PORT: '0',
		JOIN_TOKEN_SECRET: SECRET,
		REDIS_URL: TEST_REDIS_URL,
		SFU_LOG_LEVEL: process.env['SFU_LOG_LEVEL'] ?? 'warn',
		...overrides,
	});
}

export async function startSfu(overrides: Record<string, string> = {}, options: SfuOptions = {}): Promise<Sfu> {
	return Sfu.start(testSettings(overrides), { emptyRoomCloseMs: 50, ...options });
}

export function token(
	claims: Partial<{ room: string; sub: string; name: string; role: Role; exp: number; iat: number }> = {},
	secret = SECRET,
): string {
	const now = Math.floor(Date.now() / 1000);
	return signJoinToken(
		{ room: 'room-1', sub: 'alice', name: 'Alice', role: 'host', iat: now, exp: now + 600, ...claims },
		secret,
	);
}

export type Response = { id: number | string | null; ok: boolean; data?: any; error?: { code: string; message: string } };
export type Notification = { event: string; data: any };

/** A tiny signalling client: request/response by id, notifications kept in order. */
export class TestClient {
	readonly ws: WebSocket;
	readonly notifications: Notification[] = [];
	readonly closed: Promise<{ code: number; reason: string }>;
	#nextId = 1;
	readonly #pending = new Map<number | string | null, (r: Response) => void>();
	readonly #waiters: Array<{ event: string; match: (n: Notification) => boolean; resolve: (n: Notification) => void }> = [];

	private constructor(ws: WebSocket) {
		this.ws = ws;
		this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
		ws.on('message', (raw) => {
			const msg = JSON.parse(raw.toString());
			if ('event' in msg) {
				this.notifications.push(msg);
				for (const w of [...this.#waiters]) {
					if (w.event === msg.event && w.match(msg)) {
						this.#waiters.splice(this.#waiters.indexOf(w), 1);
						w.resolve(msg);
					}
				}
			} else {
				this.#pending.get(msg.id)?.(msg);
				this.#pending.delete(msg.id);
			}
		});
	}

	static async connect(sfu: Sfu): Promise<TestClient> {
		const ws = new WebSocket(`ws://127.0.0.1:${sfu.server.port}/ws`);
		await new Promise<void>((resolve, reject) => {
			ws.once('open', () => resolve());
			ws.once('error', reject);
		});
		return new TestClient(ws);
	}

	static async join(sfu: Sfu, claims: Parameters<typeof token>[0] = {}): Promise<TestClient> {
		const client = await TestClient.connect(sfu);
		const res = await client.request('join', { room: claims.room ?? 'room-1', token: token(claims) });
		if (!res.ok) throw new Error(`join failed: ${JSON.stringify(res.error)}`);
		client.joined = res.data;
		return client;
	}

	joined: any;

	request(method: string, data?: unknown): Promise<Response> {
		const id = this.#nextId++;
		return this.sendRaw(JSON.stringify({ id, method, data }), id);
	}

	/** Sends any text; resolves with the response carrying `expectId`. */
	sendRaw(text: string, expectId: number | string | null): Promise<Response> {
		const p = new Promise<Response>((resolve) => this.#pending.set(expectId, resolve));
		this.ws.send(text);
		return withTimeout(p, 5000, `response to ${text.slice(0, 60)}`);
	}

	waitFor(event: string, match: (n: Notification) => boolean = () => true): Promise<Notification> {
		const seen = this.notifications.find((n) => n.event === event && match(n));
		if (seen) return Promise.resolve(seen);
		const p = new Promise<Notification>((resolve) => this.#waiters.push({ event, match, resolve }));
		return withTimeout(p, 5000, `notification ${event}`);
	}

	close(): void {
		this.ws.close();
	}
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: NodeJS.Timeout;
	return Promise.race([
		p,
		new Promise<T>((_, reject) => {
			timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
		}),
	]).finally(() => clearTimeout(timer));
}

/** RTP parameters like mediasoup-client sends for a browser's Opus track. */
export function opusRtpParameters(ssrc: number): Record<string, unknown> {
	return {
		mid: '0',
		codecs: [
			{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: { useinbandfec: 1 }, rtcpFeedback: [] },
		],
		headerExtensions: [],
		encodings: [{ ssrc }],
		rtcp: { cname: 'test-cname', reducedSize: true },
	};
}

/** A UDP socket on 127.0.0.1 standing in for the gateway; keeps every datagram. */
export async function udpSink(): Promise<{ socket: dgram.Socket; port: number; packets: Buffer[] }> {
	const socket = dgram.createSocket('udp4');
	const packets: Buffer[] = [];
	socket.on('message', (msg) => packets.push(msg));
	await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
	return { socket, port: (socket.address() as AddressInfo).port, packets };
}

/** A UDP socket on 127.0.0.1 to send plain RTP from, and the `createPlainTransport` data naming it. */
export async function udpSender(): Promise<{ socket: dgram.Socket; source: { ip: string; port: number } }> {
	const socket = dgram.createSocket('udp4');
	await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
	return { socket, source: { ip: '127.0.0.1', port: (socket.address() as AddressInfo).port } };
}

/** Reads sfu:events entries added after `sinceId`, as field objects. */
export async function readEvents(redis: Redis, sinceId: string): Promise<Array<Record<string, string>>> {
	const entries = await redis.xrange('sfu:events', `(${sinceId}`, '+');
	return entries.map(([, fields]) => {
		const o: Record<string, string> = {};
		for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i] as string] = fields[i + 1] as string;
		return o;
	});
}

export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, what: string, ms = 5000): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v !== undefined) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

export function rtpPacket(ssrc: number, seq: number, timestamp: number, pt = 111): Buffer {
	const b = Buffer.alloc(12 + 40);
	b[0] = 0x80;
	b[1] = pt & 0x7f;
	b.writeUInt16BE(seq & 0xffff, 2);
	b.writeUInt32BE(timestamp >>> 0, 4);
	b.writeUInt32BE(ssrc >>> 0, 8);
	b.fill(0xab, 12);
	return b;
}
