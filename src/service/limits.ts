// Fixed-window limits counted in the store, so every instance of a deployment counts together and a restart
// forgets nothing: connect starts per client address, sign-in attempts per address and overall.

import type { Store } from '../store/index.js';

/** What one limited request was told. */
export interface LimitVerdict {
  allowed: boolean;
  /** Seconds until the window ends (for `Retry-After`). */
  retryAfterS: number;
}

export class StoreLimits {
  readonly #store: Store;
  readonly #now: () => number;

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  #window(windowMs: number): { start: number; end: number; retryAfterS: number } {
    const now = this.#now();
    const start = Math.floor(now / windowMs) * windowMs;
    return {
      start,
      end: start + windowMs,
      retryAfterS: Math.max(1, Math.ceil((start + windowMs - now) / 1000)),
    };
  }

  /**
   * Counts one request against `limit` per window, atomically: of any number of concurrent requests exactly
   * `limit` are allowed in a window, whichever instance they reach.
   */
  async hit(name: string, limit: number, windowMs: number): Promise<LimitVerdict> {
    const w = this.#window(windowMs);
    const n = await this.#store.hitCounter(name, w.start, w.end);
    return { allowed: n <= limit, retryAfterS: w.retryAfterS };
  }

  /** Whether the window's count has reached `limit`, without counting. */
  async reached(name: string, limit: number, windowMs: number): Promise<LimitVerdict> {
    const w = this.#window(windowMs);
    const n = await this.#store.readCounter(name, w.start);
    return { allowed: n < limit, retryAfterS: w.retryAfterS };
  }

  /** Marks `name` seen for `windowMs` (this window; {@link seen} also reads the one before). */
  async mark(name: string, windowMs: number): Promise<void> {
    const w = this.#window(windowMs);
    // Kept for the window after this one too, which still reads it.
    await this.#store.hitCounter(name, w.start, w.end + windowMs);
  }

  /** Whether `name` was marked in this window or the one before. */
  async seen(name: string, windowMs: number): Promise<boolean> {
    const w = this.#window(windowMs);
    return (
      (await this.#store.readCounter(name, w.start)) > 0 ||
      (await this.#store.readCounter(name, w.start - windowMs)) > 0
    );
  }
}
