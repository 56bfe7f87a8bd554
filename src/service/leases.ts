// Work that should run once across instances: a lease row in the store (owner + expiry, taken by
// compare-and-set). The lease only saves duplicate work; the work itself stays safe when two run at once
// (every step it takes is a compare-and-set of its own), e.g. after a lease expired under a stalled holder.

import { randomUUID } from 'node:crypto';
import type { Store } from '../store/index.js';

/** The leases the service takes. */
export const LEASES = Object.freeze({
  reconcile: 'service.reconcile',
  health: 'service.health-checks',
  rotation: 'service.rotation-policy',
  maintenance: 'service.maintenance',
});

export class Leases {
  /** This process's identity as a lease owner. */
  readonly owner: string;
  readonly #store: Store;
  readonly #now: () => number;

  constructor(store: Store, now: () => number, owner = `instance-${randomUUID()}`) {
    this.#store = store;
    this.#now = now;
    this.owner = owner;
  }

  /**
   * Runs `fn` when this instance takes (or already holds) the lease `name` for `ttlMs`; otherwise returns
   * `{ ran: false }` at once. The lease is kept until it expires (so another instance does not repeat the pass
   * right after), unless `release` is set.
   */
  async runOnce<T>(
    name: string,
    ttlMs: number,
    fn: () => Promise<T>,
    o: { release?: boolean } = {},
  ): Promise<{ ran: true; value: T } | { ran: false }> {
    if (!(await this.#store.tryLease(name, this.owner, this.#now(), ttlMs))) return { ran: false };
    try {
      return { ran: true, value: await fn() };
    } finally {
      if (o.release) await this.#store.releaseLease(name, this.owner).catch(() => {});
    }
  }
}
