import type { types } from 'mediasoup';

import { notFound, RequestError } from './errors.js';
import type { TokenBucket } from './RateLimit.js';
import type { JoinClaims, Role } from './token.js';

/** How a peer is reached: its signalling connection. */
export interface PeerChannel {
	notify(event: string, data: unknown): void;
	close(code: number, reason: string): void;
}

/**
 * One participant in a room: who they are (from the join token) and the mediasoup
 * objects they own. Closing a peer closes its transports, which closes its producers and
 * consumers (mediasoup cascades); the maps clean themselves up from the close events.
 */
export class Peer {
	readonly id: string;
	readonly name: string;
	readonly role: Role;
	readonly transports = new Map<string, types.Transport>();
	readonly producers = new Map<string, types.Producer>();
	readonly consumers = new Map<string, types.Consumer>();
	rtpCapabilities: types.RtpCapabilities | undefined;
	/** Muted by a host (`sfu:commands` mute, or in `room:{slug}:muted` at join): audio stays paused until a host unmutes. */
	hostMuted = false;
	readonly #channel: PeerChannel;
	readonly #producerOps: TokenBucket;
	#closed = false;

	constructor(claims: JoinClaims, channel: PeerChannel, producerOps: TokenBucket) {
		this.id = claims.sub;
		this.name = claims.name;
		this.role = claims.role;
		this.#channel = channel;
		this.#producerOps = producerOps;
	}

	/**
	 * Spends one producer operation (produce, pause, resume): each is an `sfu:events` entry the
	 * caption pipeline acts on, so a client toggling them in a loop is refused (RATE_LIMITED).
	 */
	spendProducerOp(): void {
		if (!this.#producerOps.take()) throw new RequestError('RATE_LIMITED', 'too many producer changes; slow down');
	}

	get closed(): boolean {
		return this.#closed;
	}

	get canProduce(): boolean {
		return this.role !== 'listener';
	}

	/** Public view sent to other peers. */
	toJSON(): { id: string; name: string; role: Role } {
		return { id: this.id, name: this.name, role: this.role };
	}

	notify(event: string, data: unknown): void {
		if (!this.#closed) this.#channel.notify(event, data);
	}

	addTransport(transport: types.Transport): void {
		this.transports.set(transport.id, transport);
		transport.observer.once('close', () => this.transports.delete(transport.id));
	}

	addProducer(producer: types.Producer): void {
		this.producers.set(producer.id, producer);
		producer.observer.once('close', () => this.producers.delete(producer.id));
	}

	addConsumer(consumer: types.Consumer): void {
		this.consumers.set(consumer.id, consumer);
		consumer.observer.once('close', () => this.consumers.delete(consumer.id));
	}

	transport(id: unknown): types.Transport {
		const t = typeof id === 'string' ? this.transports.get(id) : undefined;
		if (t === undefined) throw notFound(`transport not found: ${String(id)}`);
		return t;
	}

	producer(id: unknown): types.Producer {
		const p = typeof id === 'string' ? this.producers.get(id) : undefined;
		if (p === undefined) throw notFound(`producer not found: ${String(id)}`);
		return p;
	}

	consumer(id: unknown): types.Consumer {
		const c = typeof id === 'string' ? this.consumers.get(id) : undefined;
		if (c === undefined) throw notFound(`consumer not found: ${String(id)}`);
		return c;
	}

	/** Closes every transport (and so producers and consumers). Idempotent. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		for (const t of [...this.transports.values()]) t.close();
	}

	/** Closes the peer's signalling connection (e.g. replaced by a newer one). */
	disconnect(code: number, reason: string): void {
		this.#channel.close(code, reason);
	}
}
