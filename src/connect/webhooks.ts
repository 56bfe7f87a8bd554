// Delivers events from the outbox to webhook endpoints: leased per delivery (so several workers or instances
// never send one twice at once), signed with HMAC-SHA256, retried with capped, jittered exponential back-off.

import type { Store } from '../store/index.js';
import { usageError } from './errors.js';
import { eventBody, SIGNATURE_HEADER, signWebhook } from './events.js';

/** Options of {@link WebhookWorker}. */
export interface WebhookWorkerOptions {
  store: Store;
  secret: string;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  clock?: { now(): number };
  random?: () => number;
  /** Time between passes when running (default 1 s). */
  intervalMs?: number;
  /** How long a leased delivery is reserved for this worker (default 30 s). */
  leaseMs?: number;
  /** Deliveries per pass (default 20). */
  batch?: number;
  /** Deadline of one POST (default 10 s). */
  timeoutMs?: number;
  /** First retry delay, doubled per failure (default 1 s), capped (default 10 min). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Sends committed events to the webhook endpoints: run `start()` beside a connector (in any number of
 * processes), or `runOnce()` from a scheduler. Misuse (a short secret, a bad timing option) throws a coded
 * `TypeError`.
 */
export class WebhookWorker {
  readonly #o: Required<Omit<WebhookWorkerOptions, 'store' | 'secret'>>;
  readonly #store: Store;
  readonly #secret: string;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(options: WebhookWorkerOptions) {
    if (typeof options.secret !== 'string' || options.secret.length < 16)
      throw usageError('webhook secret must be at least 16 characters');
    this.#store = options.store;
    this.#secret = options.secret;
    this.#o = {
      fetch: options.fetch ?? ((url, init) => fetch(url, init)),
      clock: options.clock ?? { now: Date.now },
      random: options.random ?? Math.random,
      intervalMs: options.intervalMs ?? 1000,
      leaseMs: options.leaseMs ?? 30_000,
      batch: options.batch ?? 20,
      timeoutMs: options.timeoutMs ?? 10_000,
      baseBackoffMs: options.baseBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 10 * 60_000,
    };
    for (const k of [
      'intervalMs',
      'leaseMs',
      'batch',
      'timeoutMs',
      'baseBackoffMs',
      'maxBackoffMs',
    ] as const) {
      const v = this.#o[k];
      if (!Number.isInteger(v) || v < 1) throw usageError(`${k} must be a positive integer`);
    }
    // A lease that can run out while its POST is still in flight lets a second worker send the same event.
    if (this.#o.leaseMs <= this.#o.timeoutMs)
      throw usageError('leaseMs must be longer than timeoutMs, or another worker could send an event twice');
  }

  /** One pass: sends every due delivery it can lease. */
  async runOnce(): Promise<{ delivered: number; failed: number }> {
    const now = this.#o.clock.now();
    const due = await this.#store.leaseDueDeliveries(now, this.#o.leaseMs, this.#o.batch);
    let delivered = 0;
    let failed = 0;
    await Promise.all(
      due.map(async (d) => {
        const body = eventBody(d.event);
        const signature = signWebhook(this.#secret, body, Math.floor(this.#o.clock.now() / 1000));
        let status: number | null = null;
        let error = '';
        try {
          const res = await this.#o.fetch(d.endpoint, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'user-agent': 'noon-connect-webhooks/1',
              [SIGNATURE_HEADER]: signature,
              'x-noon-connect-event': d.event.type,
              'x-noon-connect-delivery': `${d.eventId}`,
            },
            body,
            redirect: 'manual',
            signal: AbortSignal.timeout(this.#o.timeoutMs),
          });
          status = res.status;
          await res.body?.cancel().catch(() => {});
          if (status >= 200 && status < 300) {
            await this.#store.completeDelivery(d.eventId, d.endpoint, status, this.#o.clock.now());
            delivered++;
            return;
          }
          error = `HTTP ${status}`;
        } catch (e) {
          error = e instanceof Error ? e.name : 'error';
        }
        const backoff = Math.min(this.#o.maxBackoffMs, this.#o.baseBackoffMs * 2 ** Math.min(d.attempts, 20));
        const jitter = 0.5 + this.#o.random() / 2;
        await this.#store.failDelivery(
          d.eventId,
          d.endpoint,
          status,
          error,
          this.#o.clock.now() + Math.round(backoff * jitter),
        );
        failed++;
      }),
    );
    return { delivered, failed };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const tick = () => {
      this.#running = this.runOnce()
        .catch(() => undefined)
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
