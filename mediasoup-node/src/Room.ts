import { EventEmitter } from 'node:events';

import type { types } from 'mediasoup';

import { CLOSE, RequestError } from './errors.js';
import { GatewayForwarder, type IngestTarget } from './GatewayForwarder.js';
import { Logger } from './logger.js';
import { MEDIA_CODECS } from './mediaCodecs.js';
import type { Peer } from './Peer.js';
import type { EventSink } from './SfuEvents.js';

const log = new Logger('Room');

type RoomEvents = { close: []; empty: [] };

export type RoomOptions = Readonly<{
	slug: string;
	worker: types.Worker;
	/** The worker's WebRtcServer: every WebRTC transport of this room listens through it. */
	webRtcServer: types.WebRtcServer;
	listenIp: string;
	announcedAddress: string | undefined;
	portRange: Readonly<{ min: number; max: number }>;
	targets: readonly IngestTarget[];
	resolveMs: number;
	events: EventSink;
}>;

/** How a peer is let in: the room's size limit, and whether a host muted it (room:{slug}:muted). */
export type JoinTerms = Readonly<{ maxPeers: number; hostMuted: boolean }>;

/**
 * A meeting: one router on one worker, its peers, who is speaking, and the gateway
 * forwarder that sends every audio producer to the caption pipeline.
 */
export class Room extends EventEmitter<RoomEvents> {
	readonly slug: string;
	readonly worker: types.Worker;
	readonly webRtcServer: types.WebRtcServer;
	readonly router: types.Router;
	readonly gateway: GatewayForwarder;
	readonly #peers = new Map<string, Peer>();
	readonly #producerOwners = new Map<string, Peer>();
	readonly #audioLevels: types.AudioLevelObserver;
	readonly #activeSpeaker: types.ActiveSpeakerObserver;
	/**
	 * Participants a host removed / muted while this room was open here (from `sfu:commands`).
	 * Redis (room:{slug}:removed, :muted) is the lasting record; these also cover a rejoin
	 * that beats the gateway's write of it.
	 */
	readonly removed = new Set<string>();
	readonly hostMuted = new Set<string>();
	#closed = false;

	private constructor(
		options: RoomOptions,
		router: types.Router,
		gateway: GatewayForwarder,
		audioLevels: types.AudioLevelObserver,
		activeSpeaker: types.ActiveSpeakerObserver,
	) {
		super();
		this.slug = options.slug;
		this.worker = options.worker;
		this.webRtcServer = options.webRtcServer;
		this.router = router;
		this.gateway = gateway;
		this.#audioLevels = audioLevels;
		this.#activeSpeaker = activeSpeaker;
		this.#watchSpeakers();
		router.observer.once('close', () => this.close());
	}

	static async create(options: RoomOptions): Promise<Room> {
		const router = await options.worker.createRouter({ mediaCodecs: MEDIA_CODECS, appData: { room: options.slug } });
		try {
			const audioLevels = await router.createAudioLevelObserver({ maxEntries: 8, threshold: -70, interval: 500 });
			const activeSpeaker = await router.createActiveSpeakerObserver({ interval: 300 });
			const gateway = await GatewayForwarder.create(router, { ...options, room: options.slug });
			log.info('room created [room:%s, worker:%d]', options.slug, options.worker.pid);
			return new Room(options, router, gateway, audioLevels, activeSpeaker);
		} catch (error) {
			router.close();
			throw error;
		}
	}

	get closed(): boolean {
		return this.#closed;
	}

	get peerCount(): number {
		return this.#peers.size;
	}

	peers(): Peer[] {
		return [...this.#peers.values()];
	}

	getPeer(id: string): Peer | undefined {
		return this.#peers.get(id);
	}

	/**
	 * Adds a peer; a peer already joined with the same id is disconnected and replaced. Throws
	 * FORBIDDEN (and the socket is closed) for a participant a host removed, or when the room
	 * already holds `maxPeers` others.
	 */
	join(peer: Peer, terms: JoinTerms): void {
		if (this.removed.has(peer.id)) throw new RequestError('FORBIDDEN', 'removed from this room', CLOSE.removed);
		const previous = this.#peers.get(peer.id);
		if (previous === undefined && this.#peers.size >= terms.maxPeers) {
			throw new RequestError('FORBIDDEN', `this room is full (${terms.maxPeers} participants)`, CLOSE.roomFull);
		}
		peer.hostMuted = terms.hostMuted || this.hostMuted.has(peer.id);
		if (previous !== undefined) {
			log.info('peer replaced by a new connection [room:%s, peer:%s]', this.slug, peer.id);
			this.leave(previous);
			previous.disconnect(CLOSE.replaced, 'joined from another connection');
		}
		this.#peers.set(peer.id, peer);
		this.#broadcast('peerJoined', peer.toJSON(), peer);
		log.info('peer joined [room:%s, peer:%s, role:%s, peers:%d]', this.slug, peer.id, peer.role, this.#peers.size);
	}

	/** Removes a peer and closes its media. Safe to call twice. */
	leave(peer: Peer): void {
		if (this.#peers.get(peer.id) !== peer) return;
		this.#peers.delete(peer.id);
		peer.close();
		this.#broadcast('peerLeft', { peerId: peer.id }, peer);
		log.info('peer left [room:%s, peer:%s, peers:%d]', this.slug, peer.id, this.#peers.size);
		if (this.#peers.size === 0) this.emit('empty');
	}

	/** Existing producers, for a peer that just joined. */
	producerList(except?: Peer): Array<Record<string, unknown>> {
		const list: Array<Record<string, unknown>> = [];
		for (const [id, owner] of this.#producerOwners) {
			if (owner === except) continue;
			const producer = owner.producers.get(id);
			if (producer === undefined) continue;
			list.push({ producerId: id, peerId: owner.id, name: owner.name, kind: producer.kind, paused: producer.paused });
		}
		return list;
	}

	findProducer(producerId: string): { producer: types.Producer; owner: Peer } | undefined {
		const owner = this.#producerOwners.get(producerId);
		const producer = owner?.producers.get(producerId);
		return owner && producer ? { producer, owner } : undefined;
	}

	/**
	 * Registers a new producer: speaker detection and the gateway for audio, and a
	 * `newProducer` notification to everyone else.
	 */
	async addProducer(peer: Peer, producer: types.Producer): Promise<void> {
		peer.addProducer(producer);
		this.#producerOwners.set(producer.id, peer);
		producer.observer.once('close', () => {
			this.#producerOwners.delete(producer.id);
			this.#broadcast('producerClosed', { producerId: producer.id, peerId: peer.id }, peer);
		});
		producer.observer.on('pause', () =>
			this.#broadcast('producerPaused', { producerId: producer.id, peerId: peer.id }, peer),
		);
		producer.observer.on('resume', () =>
			this.#broadcast('producerResumed', { producerId: producer.id, peerId: peer.id }, peer),
		);
		if (producer.kind === 'audio') {
			await this.#audioLevels.addProducer({ producerId: producer.id });
			await this.#activeSpeaker.addProducer({ producerId: producer.id });
			await this.gateway.forward(peer, producer);
		}
		this.#broadcast(
			'newProducer',
			{ producerId: producer.id, peerId: peer.id, name: peer.name, kind: producer.kind, paused: producer.paused },
			peer,
		);
	}

	/** Closes every peer (their sockets get `code`), the gateway transport and the router. Idempotent. */
	close(code = 1001, reason = 'room closed'): void {
		if (this.#closed) return;
		this.#closed = true;
		for (const peer of this.#peers.values()) {
			peer.close();
			peer.disconnect(code, reason);
		}
		this.#peers.clear();
		this.gateway.close();
		this.router.close();
		log.info('room closed [room:%s]', this.slug);
		this.emit('close');
	}

	#broadcast(event: string, data: unknown, except?: Peer): void {
		for (const p of this.#peers.values()) if (p !== except) p.notify(event, data);
	}

	#watchSpeakers(): void {
		this.#activeSpeaker.on('dominantspeaker', ({ producer }) => {
			const owner = this.#producerOwners.get(producer.id);
			if (owner) this.#broadcast('activeSpeaker', { peerId: owner.id, producerId: producer.id });
		});
		this.#audioLevels.on('volumes', (volumes) => {
			const levels = volumes.flatMap(({ producer, volume }) => {
				const owner = this.#producerOwners.get(producer.id);
				return owner ? [{ peerId: owner.id, producerId: producer.id, volume }] : [];
			});
			this.#broadcast('audioLevels', { levels });
		});
		this.#audioLevels.on('silence', () => this.#broadcast('audioLevels', { levels: [] }));
	}
}
