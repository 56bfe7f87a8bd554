// Fixed-window counters on the sandbox clock: per-project gateway limits (off by default) and the limiter for
// failed codes and tokens (on by default, NC38, checklist E9).

import type { Clock } from './clock.js';

export interface WindowLimit {
  limit: number;
  windowMs: number;
}

export class WindowCounter {
  readonly #windows = new Map<string, { start: number; count: number }>();
  readonly #clock: Clock;
  readonly limit: number;
  readonly windowMs: number;

  constructor(clock: Clock, { limit, windowMs }: WindowLimit) {
    this.#clock = clock;
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Seconds until the key may go on, or 0 when it is under its limit. */
  blockedFor(key: string): number {
    const w = this.#current(key);
    if (!w || w.count < this.limit) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - this.#clock.now()) / 1000));
  }

  /** Counts one event. */
  hit(key: string): void {
    const now = this.#clock.now();
    const w = this.#current(key);
    if (w) w.count++;
    else this.#windows.set(key, { start: now, count: 1 });
    if (this.#windows.size > 10_000) this.#sweep(now);
  }

  #current(key: string): { start: number; count: number } | undefined {
    const w = this.#windows.get(key);
    if (!w) return undefined;
    if (this.#clock.now() >= w.start + this.windowMs) {
      this.#windows.delete(key);
      return undefined;
    }
    return w;
  }

  #sweep(now: number): void {
    for (const [k, w] of this.#windows) if (now >= w.start + this.windowMs) this.#windows.delete(k);
  }
}

export function retryHeaders(seconds: number): Record<string, string> {
  return { 'retry-after': String(seconds), 'x-ratelimit-retry-after': String(seconds) };
}
