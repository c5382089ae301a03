import { CLOSE, RequestError } from './errors.js';
import { Logger } from './logger.js';
import type { Peer } from './Peer.js';
import type { IngestTarget } from './GatewayForwarder.js';
import { Room, type JoinTerms } from './Room.js';
import type { EventSink } from './SfuEvents.js';
import type { WorkerPool } from './WorkerPool.js';

const log = new Logger('RoomRegistry');

export type RoomRegistryOptions = Readonly<{
	pool: WorkerPool;
	events: EventSink;
	listenIp: string;
	announcedAddress: string | undefined;
	portRange: Readonly<{ min: number; max: number }>;
	targets: readonly IngestTarget[];
	resolveMs: number;
	/** How long an empty room stays open for a peer that reconnects. */
	emptyRoomCloseMs: number;
}>;

/**
 * All rooms of this SFU. Joining (get-or-create + add peer) and closing empty rooms go
 * through one queue, so two peers never create the same room twice and a peer never
 * joins a room that is being closed.
 */
export class RoomRegistry {
	readonly #rooms = new Map<string, Room>();
	readonly #options: RoomRegistryOptions;
	#queue: Promise<unknown> = Promise.resolve();
	#closed = false;

	constructor(options: RoomRegistryOptions) {
		this.#options = options;
	}

	get size(): number {
		return this.#rooms.size;
	}

	get(slug: string): Room | undefined {
		return this.#rooms.get(slug);
	}

	rooms(): Room[] {
		return [...this.#rooms.values()];
	}

	/** Adds the peer to its room, creating the room on the least loaded worker if needed. */
	join(slug: string, peer: Peer, terms: JoinTerms): Promise<Room> {
		return this.#serialise(async () => {
			if (this.#closed) throw new Error('SFU is shutting down');
			const existing = this.#rooms.get(slug);
			if (existing === undefined && terms.maxPeers < 1) {
				throw new RequestError('FORBIDDEN', 'this room is full', CLOSE.roomFull);
			}
			const room = existing ?? (await this.#create(slug));
			room.join(peer, terms);
			return room;
		});
	}

	#serialise<T>(task: () => Promise<T>): Promise<T> {
		const run = this.#queue.then(task, task);
		this.#queue = run.catch(() => undefined);
		return run;
	}

	async #create(slug: string): Promise<Room> {
		const { pool, ...rest } = this.#options;
		const worker = pool.acquire();
		let room: Room;
		try {
			room = await Room.create({ ...rest, slug, worker, webRtcServer: pool.webRtcServerOf(worker) });
		} catch (error) {
			pool.release(worker);
			throw error;
		}
		this.#rooms.set(slug, room);
		let timer: NodeJS.Timeout | undefined;
		room.on('empty', () => {
			clearTimeout(timer);
			timer = setTimeout(() => {
				void this.#serialise(async () => {
					if (room.peerCount === 0) room.close();
				});
			}, this.#options.emptyRoomCloseMs);
			timer.unref();
		});
		room.once('close', () => {
			clearTimeout(timer);
			if (this.#rooms.get(slug) === room) this.#rooms.delete(slug);
			pool.release(worker);
			log.debug('room released [room:%s, rooms:%d]', slug, this.#rooms.size);
		});
		return room;
	}

	/** Closes every room (and so every peer). */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		for (const room of [...this.#rooms.values()]) room.close();
	}
}
