// The sandbox's clock: every expiry (codes, tokens, sessions, JWT windows) reads it, so tests move time instead of sleeping.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** A clock that follows real time plus an offset the admin API can advance. */
export class AdjustableClock implements Clock {
  #offsetMs = 0;
  readonly #base: () => number;

  constructor(base: () => number = Date.now) {
    this.#base = base;
  }

  now(): number {
    return this.#base() + this.#offsetMs;
  }

  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new TypeError('clock.advance(ms) needs a finite, non-negative number of milliseconds');
    }
    this.#offsetMs += ms;
    return this.now();
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }
}
