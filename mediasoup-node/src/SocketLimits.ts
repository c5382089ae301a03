/** Caps on signalling sockets, in all and per client address (SFU_MAX_SOCKETS*, SFU_MAX_UNJOINED*). */
export type SocketCaps = Readonly<{
	maxSockets: number;
	maxSocketsPerAddress: number;
	maxUnjoinedSockets: number;
	maxUnjoinedPerAddress: number;
}>;

/** One admitted socket: say when it joined, and release it (idempotent) when it closes. */
export type SocketTicket = Readonly<{ joined: () => void; release: () => void }>;

type Count = { all: number; unjoined: number };

/**
 * Counts open signalling sockets, and the ones that have not joined yet, in all and per client
 * address, and refuses a new one over any cap. An unjoined socket costs the SFU without proving
 * anything (no valid token yet), so its caps are the tighter ones.
 */
export class SocketLimits {
	readonly #caps: SocketCaps;
	readonly #byAddress = new Map<string, Count>();
	readonly #total: Count = { all: 0, unjoined: 0 };

	constructor(caps: SocketCaps) {
		this.#caps = caps;
	}

	get open(): number {
		return this.#total.all;
	}

	get unjoined(): number {
		return this.#total.unjoined;
	}

	/** A ticket, or why the socket is refused. */
	admit(address: string): SocketTicket | string {
		const caps = this.#caps;
		const mine = this.#byAddress.get(address) ?? { all: 0, unjoined: 0 };
		if (this.#total.all >= caps.maxSockets) return 'server busy: too many connections';
		if (this.#total.unjoined >= caps.maxUnjoinedSockets) return 'server busy: too many connections not yet joined';
		if (mine.all >= caps.maxSocketsPerAddress) return 'too many connections from your address';
		if (mine.unjoined >= caps.maxUnjoinedPerAddress) return 'too many connections not yet joined from your address';
		this.#byAddress.set(address, mine);
		for (const c of [mine, this.#total]) {
			c.all++;
			c.unjoined++;
		}
		let joined = false;
		let released = false;
		return {
			joined: () => {
				if (joined || released) return;
				joined = true;
				mine.unjoined--;
				this.#total.unjoined--;
			},
			release: () => {
				if (released) return;
				released = true;
				for (const c of [mine, this.#total]) {
					c.all--;
					if (!joined) c.unjoined--;
				}
				if (mine.all === 0) this.#byAddress.delete(address);
			},
		};
	}
}
