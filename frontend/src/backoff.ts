/** Reconnect delays: 0.5 s, 1 s, 2 s, ... up to `maxMs`, with ±20 % jitter; reset after a success. */
export class Backoff {
  #attempt = 0;
  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 10_000,
  ) {}

  next(): number {
    const raw = Math.min(this.maxMs, this.baseMs * 2 ** this.#attempt);
    this.#attempt += 1;
    return Math.round(raw * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempt(): number {
    return this.#attempt;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
