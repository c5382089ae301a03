import type { Redis } from 'ioredis';

import { type SfuCommandType, SfuCommandTypes } from './contracts.js';
import { CLOSE } from './errors.js';
import { Logger } from './logger.js';
import type { RoomRegistry } from './RoomRegistry.js';

const log = new Logger('SfuCommands');

/** Host commands from the gateway's admin API (services/gateway/parley_gateway/api/live.py). */
export const SFU_COMMANDS_STREAM = 'sfu:commands';
const BLOCK_MS = 2000;
const RETRY_MS = 1000;

const TYPES = SfuCommandTypes; // the contract's (generated from schemas.SfuCommand: src/contracts.ts)
export type SfuCommand = Readonly<{ type: SfuCommandType; room: string; peer: string; by: string }>;

/** Parses one entry's fields; undefined (logged) when it is not a v1 command. */
export function parseCommand(fields: string[]): SfuCommand | undefined {
	const f: Record<string, string> = {};
	for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
	const { v, type, room, peer = '', by = '' } = f;
	if (v !== '1' || !TYPES.includes(type as SfuCommand['type']) || !room) return undefined;
	if (type !== 'close' && !peer) return undefined;
	return { type: type as SfuCommand['type'], room, peer, by };
}

/**
 * Follows `sfu:commands` (every SFU instance reads every entry, XREAD without a group) and
 * applies the ones for rooms this instance hosts: mute pauses the peer's audio producers and
 * keeps them paused (resumeProducer is refused) until unmute, remove disconnects the peer and
 * keeps it out, close closes the room.
 */
export class SfuCommandListener {
	readonly #redis: Redis;
	readonly #registry: RoomRegistry;
	readonly #loop: Promise<void>;
	#stopped = false;
	applied = 0;

	private constructor(redis: Redis, registry: RoomRegistry, startId: string) {
		this.#redis = redis;
		this.#registry = registry;
		this.#loop = this.#run(startId);
	}

	/** Starts after the newest existing entry (old commands are not replayed). */
	static async start(redis: Redis, registry: RoomRegistry): Promise<SfuCommandListener> {
		let startId = '0-0';
		try {
			const last = await redis.xrevrange(SFU_COMMANDS_STREAM, '+', '-', 'COUNT', 1);
			startId = last[0]?.[0] ?? '0-0';
		} catch (err) {
			log.warn('cannot read %s yet, starting from its beginning: %s', SFU_COMMANDS_STREAM, String(err));
		}
		return new SfuCommandListener(redis, registry, startId);
	}

	async #run(startId: string): Promise<void> {
		let lastId = startId;
		while (!this.#stopped) {
			try {
				const res = await this.#redis.xread('COUNT', 100, 'BLOCK', BLOCK_MS, 'STREAMS', SFU_COMMANDS_STREAM, lastId);
				for (const [, entries] of res ?? []) {
					for (const [id, fields] of entries) {
						lastId = id;
						this.#apply(id, fields);
					}
				}
			} catch (err) {
				if (this.#stopped) break;
				log.warn('XREAD %s failed, retrying: %s', SFU_COMMANDS_STREAM, String(err));
				await new Promise((r) => setTimeout(r, RETRY_MS));
			}
		}
	}

	#apply(id: string, fields: string[]): void {
		const cmd = parseCommand(fields);
		if (cmd === undefined) {
			log.warn('ignoring malformed command [id:%s]', id);
			return;
		}
		const room = this.#registry.get(cmd.room);
		if (room === undefined) return; // hosted by another SFU, or nobody is in it
		const peer = cmd.peer ? room.getPeer(cmd.peer) : undefined;
		log.info('command [type:%s, room:%s, peer:%s, by:%s]', cmd.type, cmd.room, cmd.peer || '-', cmd.by || '-');
		this.applied++;
		switch (cmd.type) {
			case 'close':
				room.close(CLOSE.roomClosed, 'room closed by host');
				return;
			case 'mute':
				room.hostMuted.add(cmd.peer);
				if (peer === undefined) return;
				peer.hostMuted = true;
				for (const producer of peer.producers.values()) {
					if (producer.kind === 'audio' && !producer.paused) {
						producer.pause().catch((err: unknown) => log.warn('pause failed [producer:%s]: %s', producer.id, String(err)));
					}
				}
				peer.notify('mutedByHost', { by: cmd.by });
				return;
			case 'unmute':
				room.hostMuted.delete(cmd.peer);
				if (peer === undefined) return;
				peer.hostMuted = false;
				peer.notify('unmutedByHost', { by: cmd.by });
				return;
			case 'remove':
				room.removed.add(cmd.peer);
				if (peer === undefined) return;
				peer.notify('removedByHost', { by: cmd.by });
				room.leave(peer);
				peer.disconnect(CLOSE.removed, 'removed by host');
				return;
		}
	}

	async stop(): Promise<void> {
		this.#stopped = true;
		this.#redis.disconnect();
		await this.#loop;
	}
}
