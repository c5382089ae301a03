/**
 * A token bucket: `burst` tokens at most, refilled at `perSecond`. `take()` spends one and says
 * whether there was one. Used per socket (requests) and per peer (producer operations).
 */
export class TokenBucket {
	readonly #perMs: number;
	readonly #burst: number;
	readonly #now: () => number;
	#tokens: number;
	#at: number;

	constructor(perSecond: number, burst: number, now: () => number = Date.now) {
		this.#perMs = perSecond / 1000;
		this.#burst = burst;
		this.#now = now;
		this.#tokens = burst;
		this.#at = now();
	}

	take(): boolean {
		const now = this.#now();
		this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
		this.#at = now;
		if (this.#tokens < 1) return false;
		this.#tokens -= 1;
		return true;
	}
}
