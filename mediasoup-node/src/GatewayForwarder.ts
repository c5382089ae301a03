import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import type { types } from 'mediasoup';

import { Logger } from './logger.js';
import type { EventSink, ProducerStream } from './SfuEvents.js';

const log = new Logger('GatewayForwarder');

/** Where the RTP ingest listens: an address or a host name (every address it resolves to is a target). */
export type IngestTarget = Readonly<{ host: string; port: number }>;

/** Most ingest addresses one room sends to (each costs a PlainTransport and a consumer per producer). */
export const MAX_LEGS = 8;

export type GatewayForwarderOptions = Readonly<{
	room: string;
	listenIp: string;
	announcedAddress: string | undefined;
	portRange: Readonly<{ min: number; max: number }>;
	targets: readonly IngestTarget[];
	/** How often the targets' host names are looked up again (0: only at start). */
	resolveMs: number;
	events: EventSink;
	/** Every address of a host name (tests replace the system resolver). */
	resolve?: (host: string, listenIp: string) => Promise<string[]>;
}>;

/** One ingest address: its PlainTransport and one consumer per forwarded producer. */
type Leg = {
	readonly key: string; // ip:port
	readonly transport: types.PlainTransport;
	readonly consumers: Map<string, types.Consumer>;
};

/** The addresses (ip:port) the targets resolve to; `complete` false when a lookup failed. */
type Lookup = { addrs: Map<string, { ip: string; port: number }>; complete: boolean };

type Forwarded = {
	readonly peer: Readonly<{ id: string; name: string }>;
	readonly producer: types.Producer;
	stream: ProducerStream;
	closed: boolean;
};

/**
 * Sends every audio producer of one room to the RTP ingest (parley-ingest): one PlainTransport
 * (RTP over UDP, rtcp-mux, no comedia) per ingest address, and one consumer on each per audio
 * producer. Two ingest replicas each receive every producer, so either can die without a word
 * lost (the ingest gives each frame the same stream id on both, and Redis keeps one copy).
 *
 * Each consumer has its own SSRC; one `producer.open` on `sfu:events` lists them all (`ssrcs`).
 * mediasoup passes the producer's RTP timestamps through unchanged, which is what lets the
 * replicas agree on the media timeline. Host names are looked up again every `resolveMs`
 * (Swarm gives a restarted task a new address): a new address gets a leg and the open event is
 * published again with the new SSRCs; a vanished one is closed.
 */
export class GatewayForwarder {
	readonly #router: types.Router;
	readonly #options: GatewayForwarderOptions;
	readonly #legs = new Map<string, Leg>();
	readonly #streams = new Map<string, Forwarded>();
	#timer: NodeJS.Timeout | undefined;
	#queue: Promise<unknown> = Promise.resolve();
	#closed = false;

	private constructor(router: types.Router, options: GatewayForwarderOptions) {
		this.#router = router;
		this.#options = options;
	}

	static async create(router: types.Router, options: GatewayForwarderOptions): Promise<GatewayForwarder> {
		const forwarder = new GatewayForwarder(router, options);
		await forwarder.refresh();
		if (forwarder.#legs.size === 0) {
			log.error('no RTP ingest reachable yet; retrying [room:%s, targets:%s]', options.room, describe(options.targets));
		}
		forwarder.#schedule();
		return forwarder;
	}

	/** Starts forwarding an audio producer; returns what was announced to the ingest. */
	async forward(peer: Readonly<{ id: string; name: string }>, producer: types.Producer): Promise<ProducerStream> {
		if (producer.kind !== 'audio') throw new TypeError('only audio producers go to the ingest');
		const fwd: Forwarded = { peer, producer, stream: this.#describe(peer, producer), closed: false };
		await this.#serial(async () => {
			for (const leg of this.#legs.values()) await this.#consume(leg, fwd);
			fwd.stream = this.#describe(peer, producer);
			this.#streams.set(producer.id, fwd);
		});
		const { events } = this.#options;
		events.publish('producer.open', fwd.stream);
		if (producer.paused) events.publish('producer.pause', fwd.stream);

		producer.observer.on('pause', () => events.publish('producer.pause', fwd.stream));
		producer.observer.on('resume', () => events.publish('producer.resume', fwd.stream));
		producer.observer.once('close', () => this.#end(fwd));
		log.debug(
			'forwarding [room:%s, peer:%s, producer:%s, ssrcs:%s]',
			fwd.stream.room,
			peer.id,
			producer.id,
			fwd.stream.ssrcs.join(','),
		);
		return fwd.stream;
	}

	/** What the ingest was told about a producer (undefined when not forwarded). */
	streamOf(producerId: string): ProducerStream | undefined {
		return this.#streams.get(producerId)?.stream;
	}

	/** The ingest addresses (ip:port) this room sends to. */
	get legs(): string[] {
		return [...this.#legs.keys()];
	}

	/**
	 * Looks the targets up and makes the legs match: a leg for each new address (consuming every
	 * forwarded producer, then announcing the new SSRCs), none for an address that is gone. A
	 * failed lookup keeps the legs it had.
	 */
	async refresh(): Promise<void> {
		try {
			const wanted = await this.#lookup();
			await this.#serial(() => this.#apply(wanted));
		} catch (error) {
			log.error('ingest refresh failed [room:%s]: %s', this.#options.room, String(error));
		}
	}

	/** Leg changes and new producers' consumers, one at a time (none may miss the other). */
	#serial<T>(fn: () => Promise<T>): Promise<T> {
		const run = this.#queue.then(fn);
		this.#queue = run.catch(() => undefined);
		return run;
	}

	/** Closes every leg; each forwarded stream is announced closed. Idempotent. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		clearTimeout(this.#timer);
		for (const leg of this.#legs.values()) leg.transport.close();
		this.#legs.clear();
		for (const fwd of this.#streams.values()) this.#end(fwd);
	}

	async #lookup(): Promise<Lookup> {
		const { targets, listenIp, room } = this.#options;
		const resolve = this.#options.resolve ?? resolveAll;
		const addrs = new Map<string, { ip: string; port: number }>();
		let complete = true;
		for (const t of targets) {
			try {
				for (const ip of await resolve(t.host, listenIp)) addrs.set(`${ip}:${t.port}`, { ip, port: t.port });
			} catch (error) {
				complete = false;
				log.warn('cannot resolve ingest %s [room:%s]: %s', t.host, room, String(error));
			}
		}
		return { addrs, complete };
	}

	async #apply({ addrs: wanted, complete }: Lookup): Promise<void> {
		if (this.#closed) return;
		const { room } = this.#options;
		let changed = false;
		if (complete) {
			for (const [key, leg] of this.#legs) {
				if (wanted.has(key)) continue;
				log.info('ingest address gone, closing its leg [room:%s, ingest:%s]', room, key);
				this.#legs.delete(key);
				leg.transport.close();
				changed = true;
			}
		}
		for (const [key, addr] of wanted) {
			if (this.#legs.has(key) || this.#closed) continue;
			if (this.#legs.size >= MAX_LEGS) {
				log.warn('more ingest addresses than %d; ignoring %s [room:%s]', MAX_LEGS, key, room);
				continue;
			}
			const leg = await this.#openLeg(key, addr.ip, addr.port);
			if (leg === undefined) continue;
			for (const fwd of this.#streams.values()) if (!fwd.closed) await this.#consume(leg, fwd);
			this.#legs.set(key, leg);
			changed = true;
		}
		if (changed && !this.#closed) this.#announce();
	}

	async #openLeg(key: string, ip: string, port: number): Promise<Leg | undefined> {
		const { listenIp, announcedAddress, portRange, room } = this.#options;
		let transport: types.PlainTransport | undefined;
		try {
			transport = await this.#router.createPlainTransport({
				listenInfo: {
					protocol: 'udp',
					ip: listenIp,
					...(announcedAddress ? { announcedAddress } : {}),
					portRange: { min: portRange.min, max: portRange.max },
				},
				rtcpMux: true,
				comedia: false,
				appData: { role: 'gateway' },
			});
			await transport.connect({ ip, port });
		} catch (error) {
			transport?.close();
			log.error('ingest leg not made [room:%s, ingest:%s]: %s', room, key, String(error));
			return undefined;
		}
		log.info(
			'ingest transport ready [room:%s, local:%s:%d, ingest:%s]',
			room,
			transport.tuple.localAddress,
			transport.tuple.localPort,
			key,
		);
		return { key, transport, consumers: new Map() };
	}

	async #consume(leg: Leg, fwd: Forwarded): Promise<void> {
		try {
			const consumer = await leg.transport.consume({
				producerId: fwd.producer.id,
				rtpCapabilities: this.#router.rtpCapabilities,
				appData: { role: 'gateway', peerId: fwd.peer.id },
			});
			leg.consumers.set(fwd.producer.id, consumer);
			consumer.observer.once('close', () => leg.consumers.delete(fwd.producer.id));
		} catch (error) {
			if (fwd.producer.closed || leg.transport.closed) return;
			log.error('ingest consumer not made [producer:%s, ingest:%s]: %s', fwd.producer.id, leg.key, String(error));
		}
	}

	/** The producer as the ingest sees it: one SSRC per leg that consumes it. */
	#describe(peer: Readonly<{ id: string; name: string }>, producer: types.Producer): ProducerStream {
		const ssrcs: number[] = [];
		let pt: number | undefined;
		let clockRate: number | undefined;
		for (const leg of this.#legs.values()) {
			const c = leg.consumers.get(producer.id);
			const ssrc = c?.rtpParameters.encodings?.[0]?.ssrc;
			const codec = c?.rtpParameters.codecs[0];
			if (ssrc === undefined || codec === undefined) continue;
			ssrcs.push(ssrc);
			pt = codec.payloadType;
			clockRate = codec.clockRate;
		}
		const codec = producer.rtpParameters.codecs[0];
		return {
			room: this.#options.room,
			peer: peer.id,
			name: peer.name,
			producer: producer.id,
			ssrc: ssrcs[0] ?? 0,
			ssrcs,
			pt: pt ?? codec?.payloadType ?? 0,
			clockRate: clockRate ?? codec?.clockRate ?? 48000,
		};
	}

	/** The legs changed: every live producer is announced again with its SSRCs now. */
	#announce(): void {
		const { events } = this.#options;
		for (const fwd of this.#streams.values()) {
			if (fwd.closed) continue;
			fwd.stream = this.#describe(fwd.peer, fwd.producer);
			events.publish('producer.open', fwd.stream);
			if (fwd.producer.paused) events.publish('producer.pause', fwd.stream);
		}
	}

	#end(fwd: Forwarded): void {
		if (fwd.closed) return;
		fwd.closed = true;
		this.#streams.delete(fwd.producer.id);
		this.#options.events.publish('producer.close', fwd.stream);
	}

	#schedule(): void {
		if (this.#closed || this.#options.resolveMs <= 0) return;
		this.#timer = setTimeout(() => {
			void this.refresh().then(() => this.#schedule());
		}, this.#options.resolveMs);
		this.#timer.unref();
	}
}

function describe(targets: readonly IngestTarget[]): string {
	return targets.map((t) => `${t.host}:${t.port}`).join(',');
}

/**
 * Every address of an ingest host name (Swarm's DNS with endpoint_mode dnsrr: one per task), in
 * the family of the address the SFU listens on; an address is itself. mediasoup connects a
 * PlainTransport to an IP address only.
 */
async function resolveAll(host: string, listenIp: string): Promise<string[]> {
	if (isIP(host)) return [host];
	const found = await lookup(host, { family: isIP(listenIp) === 6 ? 6 : 4, all: true });
	return [...new Set(found.map((a) => a.address))].sort();
}
