// The sandbox's clock: every expiry (codes, tokens, sessions, JWT windows) reads it, so tests move time instead of sleeping.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The latest instant a JavaScript Date can hold. */
const MAX_DATE_MS = 8.64e15;

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
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw new TypeError('clock.advance(ms) needs a finite, non-negative number of milliseconds');
    }
    // Past this a Date is invalid and every ISO timestamp the sandbox writes would throw.
    if (this.now() + ms > MAX_DATE_MS) {
      throw new TypeError(
        `clock.advance(ms) would move the clock past ${new Date(MAX_DATE_MS).toISOString()}`,
      );
    }
    this.#offsetMs += ms;
    return this.now();
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }
}
