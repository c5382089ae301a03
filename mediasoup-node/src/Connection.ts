import type { types } from 'mediasoup';
import type { WebSocket } from 'ws';

import type { Admission } from './Admission.js';
import { CLOSE, RequestError, badRequest, toClientError, unauthorized } from './errors.js';
import { HANDLERS } from './handlers/index.js';
import { Logger } from './logger.js';
import { Peer, type PeerChannel } from './Peer.js';
import { TokenBucket } from './RateLimit.js';
import type { Room } from './Room.js';
import type { RoomRegistry } from './RoomRegistry.js';
import type { Settings } from './settings.js';
import { verifyJoinToken } from './token.js';
import { iceServersFor } from './turn.js';
import { asData, reqString, rtpCapabilities, type Data } from './validate.js';

const log = new Logger('Connection');

type Request = { id: number | string; method: string; data: Data };

export type ConnectionDeps = Readonly<{
	registry: RoomRegistry;
	settings: Settings;
	admission: Admission;
	stats: { errors: number; rateLimited: number };
	/** The client's address (behind a trusted proxy: the forwarded one), for logs. */
	address: string;
	/** Called once the socket has joined (it then counts as joined for the socket limits). */
	onJoined: () => void;
}>;

/**
 * One signalling WebSocket. The first request must be `join` with a valid token; after
 * that, requests go to HANDLERS one at a time (in arrival order), and the peer's
 * notifications go out on the same socket. A bad request gets an error response; only
 * authentication failures close the socket.
 */
export class Connection implements PeerChannel {
	readonly #ws: WebSocket;
	readonly #deps: ConnectionDeps;
	#peer: Peer | undefined;
	#room: Room | undefined;
	#queue: Promise<void> = Promise.resolve();
	#queued = 0;
	readonly #rate: TokenBucket;
	#joinTimer: NodeJS.Timeout;
	#closed = false;
	#flooded = false;

	constructor(ws: WebSocket, deps: ConnectionDeps) {
		this.#ws = ws;
		this.#deps = deps;
		const { settings } = deps;
		this.#rate = new TokenBucket(settings.requestsPerS, settings.requestBurst);
		this.#joinTimer = setTimeout(() => this.close(CLOSE.joinTimeout, 'join timeout'), settings.joinTimeoutMs);
		ws.on('message', (raw, isBinary) => {
			if (this.#flooded) return;
			if (++this.#queued > settings.maxQueuedRequests || !this.#rate.take()) {
				this.#flooded = true; // nothing more from it is read
				deps.stats.rateLimited++;
				log.warn('request flood, closing [peer:%s, address:%s]', this.#peer?.id ?? '-', deps.address);
				this.close(CLOSE.flood, 'too many requests');
				return;
			}
			this.#queue = this.#queue
				.then(() => this.#onMessage(raw.toString(), isBinary))
				.finally(() => this.#queued--);
		});
		ws.on('close', () => this.#onClose());
		ws.on('error', (err) => log.warn('socket error [peer:%s]: %s', this.#peer?.id ?? '-', err.message));
	}

	notify(event: string, data: unknown): void {
		this.#send({ event, data });
	}

	close(code: number, reason: string): void {
		if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
			this.#ws.close(code, reason.slice(0, 120));
		}
	}

	async #onMessage(text: string, isBinary: boolean): Promise<void> {
		if (this.#closed || this.#flooded) return;
		let id: number | string | null = null;
		try {
			if (isBinary) throw badRequest('binary messages are not accepted');
			const msg = parseJson(text);
			id = requestId(msg);
			const request = parseRequest(msg, id);
			const data = await this.#dispatch(request);
			this.#send({ id, ok: true, data: data ?? {} });
		} catch (err) {
			const { code, message, internal, closeCode } = toClientError(err);
			this.#deps.stats.errors++;
			if (internal) log.error('request failed [peer:%s, id:%s]: %s', this.#peer?.id ?? '-', String(id), errorText(err));
			else log.debug('request refused [peer:%s, id:%s, code:%s]: %s', this.#peer?.id ?? '-', String(id), code, message);
			this.#send({ id, ok: false, error: { code, message } });
			if (closeCode !== undefined) this.close(closeCode, message);
		}
	}

	async #dispatch({ method, data }: Request): Promise<unknown> {
		const peer = this.#peer;
		const room = this.#room;
		if (method === 'join') return this.#join(data);
		if (peer === undefined || room === undefined) throw unauthorized('join first');
		if (method === 'leave') {
			setImmediate(() => this.close(1000, 'left'));
			room.leave(peer);
			return {};
		}
		const handler = HANDLERS.get(method);
		if (handler === undefined) throw badRequest(`unknown method: ${method}`);
		if (peer.closed) throw new RequestError('INVALID_STATE', 'peer left');
		return handler({ room, peer, settings: this.#deps.settings }, data);
	}

	async #join(data: Data): Promise<unknown> {
		if (this.#peer !== undefined) throw new RequestError('INVALID_STATE', 'already joined');
		const roomSlug = reqString(data, 'room', 128);
		const claims = verifyJoinToken(data['token'], this.#deps.settings.joinTokenSecret);
		if (claims.room !== roomSlug) throw unauthorized('token is for another room');
		const state = await this.#deps.admission.check(claims.room, claims.sub);
		if (state.closed) throw new RequestError('FORBIDDEN', 'this room is closed', CLOSE.roomClosed);
		if (state.removed) throw new RequestError('FORBIDDEN', 'removed from this room', CLOSE.removed);
		if (this.#closed) throw new RequestError('INVALID_STATE', 'socket closed');
		const { producerOpsPerMin, producerOpsBurst } = this.#deps.settings;
		const peer = new Peer(claims, this, new TokenBucket(producerOpsPerMin / 60, producerOpsBurst));
		if (data['rtpCapabilities'] !== undefined) {
			peer.rtpCapabilities = rtpCapabilities(data['rtpCapabilities'], this.#deps.settings) as types.RtpCapabilities;
		}
		const room = await this.#deps.registry.join(roomSlug, peer, {
			maxPeers: state.maxParticipants ?? this.#deps.settings.maxPeersPerRoom,
			hostMuted: state.muted,
		});
		clearTimeout(this.#joinTimer);
		this.#deps.onJoined();
		this.#peer = peer;
		this.#room = room;
		if (this.#closed) room.leave(peer); // socket closed while the room was being created
		const turn = this.#deps.settings.turn;
		return {
			peerId: peer.id,
			name: peer.name,
			role: peer.role,
			routerRtpCapabilities: room.router.rtpCapabilities,
			...iceServersFor(turn, peer.id),
			iceTransportPolicy: this.#deps.settings.iceTransportPolicy,
			hostMuted: peer.hostMuted,
			peers: room.peers().filter((p) => p !== peer).map((p) => p.toJSON()),
			producers: room.producerList(peer),
		};
	}

	#onClose(): void {
		if (this.#closed) return;
		this.#closed = true;
		clearTimeout(this.#joinTimer);
		if (this.#peer && this.#room) this.#room.leave(this.#peer);
	}

	#send(message: unknown): void {
		if (this.#ws.readyState !== this.#ws.OPEN) return;
		this.#ws.send(JSON.stringify(message));
	}
}

function parseJson(text: string): Record<string, unknown> {
	let msg: unknown;
	try {
		msg = JSON.parse(text);
	} catch {
		throw badRequest('message is not valid JSON');
	}
	if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw badRequest('message must be an object');
	return msg as Record<string, unknown>;
}

function requestId(msg: Record<string, unknown>): number | string {
	const { id } = msg;
	if ((typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length > 0 && id.length <= 64)) {
		return id;
	}
	throw badRequest('id must be a number or a short string');
}

function parseRequest(msg: Record<string, unknown>, id: number | string): Request {
	const { method, data } = msg;
	if (typeof method !== 'string' || method.length === 0 || method.length > 64) {
		throw badRequest('method must be a non-empty string');
	}
	return { id, method, data: asData(data) };
}

function errorText(err: unknown): string {
	return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
