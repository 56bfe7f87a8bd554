// Scheduled operations, run by whichever instance holds their lease: a health check of every active connection
// once per interval (spread over it, a bounded number at once), and the optional rotation policy (keys older
// than N days are rotated, make-before-break). A failed check whose key is no longer active at Noon marks the
// connection needs_reconnect with one `needs_reconnect` event (a compare-and-set on the connection: two
// instances that both found it still write one event).

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { NoonApiUsers } from '../client/index.js';
import type { Connector } from '../connect/index.js';
import type { Connection, NewEvent, Store } from '../store/index.js';
import type { Audit } from './audit.js';
import type { ScaleSettings } from './config-scale.js';
import { LEASES, type Leases } from './leases.js';

const DAY_MS = 86_400_000;

export interface SchedulerOptions {
  store: Store;
  connector: Pick<Connector, 'healthCheck' | 'rotate'>;
  apiUsers: Pick<NoonApiUsers, 'listCredentials'>;
  leases: Leases;
  logger: Logger;
  audit: Audit;
  now: () => number;
  settings: ScaleSettings;
  webhookEndpoints: readonly string[];
}

/** What one pass did (for logs and tests). */
export interface PassReport {
  ran: boolean;
  checked: number;
  failed: number;
  needsReconnect: number;
  rotated: number;
}

const codeOf = (e: unknown): string => (e as { code?: string })?.code ?? (e as Error)?.name ?? 'error';

/** Runs `fn` over `items`, at most `limit` at once. */
async function bounded<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(o: SchedulerOptions) {
    this.#o = o;
    // Ten ticks per interval (at least a second, at most a minute apart): each checks its share of the due ones.
    this.#tickMs = Math.min(60_000, Math.max(1000, Math.floor(o.settings.healthIntervalMs / 10)));
  }

  get enabled(): boolean {
    return this.#o.settings.healthIntervalMs > 0 || this.#o.settings.rotateAfterDays !== undefined;
  }

  start(): void {
    if (!this.enabled || this.#timer) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.tick()
        .catch(() => {})
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#tickMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One tick: the health pass, then the rotation pass. */
  async tick(): Promise<PassReport> {
    const health = await this.healthPass();
    const rotation = await this.rotationPass();
    return {
      ran: health.ran || rotation.ran,
      checked: health.checked,
      failed: health.failed,
      needsReconnect: health.needsReconnect,
      rotated: rotation.rotated,
    };
  }

  /**
   * Checks this tick's share of the active connections due for a check (never checked, or last checked an
   * interval ago), oldest first, under the health lease: only one instance checks at a time.
   */
  async healthPass(): Promise<PassReport> {
    const report: PassReport = { ran: false, checked: 0, failed: 0, needsReconnect: 0, rotated: 0 };
    const { settings, leases, store } = this.#o;
    if (settings.healthIntervalMs <= 0) return report;
    const r = await leases.runOnce(LEASES.health, this.#tickMs, async () => {
      const now = this.#o.now();
      const active = await store.listConnections({ status: 'active' });
      const due = active
        .filter((c) => c.lastHealthAt === null || c.lastHealthAt <= now - settings.healthIntervalMs)
        .sort((a, b) => (a.lastHealthAt ?? 0) - (b.lastHealthAt ?? 0));
      // This tick's share, so the checks of an interval spread over its ticks.
      const share = Math.max(1, Math.ceil((active.length * this.#tickMs) / settings.healthIntervalMs));
      await bounded(due.slice(0, share), settings.healthConcurrency, async (c) => {
        report.checked++;
        const outcome = await this.checkOne(c);
        if (outcome !== 'ok') report.failed++;
        if (outcome === 'key-removed') report.needsReconnect++;
      });
    });
    report.ran = r.ran;
    if (report.checked > 0)
      this.#o.logger.info({ ...report, scheduled: 'health' }, 'scheduled health checks');
    return report;
  }

  /**
   * One connection's check. A failure alone is not proof (Noon may be down): the key is looked up in the seller
   * account's key list, and only a key no longer active there moves the connection to needs_reconnect.
   */
  async checkOne(c: Connection): Promise<'ok' | 'failed' | 'key-removed'> {
    const { connector, apiUsers, store, logger, audit } = this.#o;
    let ok = false;
    try {
      ok = (await connector.healthCheck(c.id)).ok;
    } catch (e) {
      logger.warn({ connectionId: c.id, code: codeOf(e) }, 'scheduled health check failed to run');
      return 'failed';
    }
    if (ok) return 'ok';
    if (!c.keyId || !c.channelIdentifier) return 'failed';
    let active: boolean;
    try {
      const keys = await apiUsers.listCredentials({ channelIdentifier: c.channelIdentifier });
      active = keys.some((k) => k.keyId === c.keyId && k.active);
    } catch (e) {
      logger.warn({ connectionId: c.id, code: codeOf(e) }, 'scheduled health check: key list unavailable');
      return 'failed';
    }
    if (active) return 'failed';
    const now = this.#o.now();
    const payload = {
      tenant: c.tenant,
      seller_project: c.sellerProject,
      connection_id: c.id,
      key_id: c.keyId,
      channel_identifier: c.channelIdentifier,
      error_code: 'KEY_REMOVED',
    };
    const event: NewEvent = {
      id: randomUUID(),
      type: 'needs_reconnect',
      tenant: c.tenant,
      connectionId: c.id,
      attemptId: null,
      payload: JSON.stringify(payload),
      createdAt: now,
      endpoints: this.#o.webhookEndpoints,
    };
    if (await store.markNeedsReconnect(c.id, c.keyId, now, [event])) {
      logger.warn(
        { connectionId: c.id, tenant: c.tenant, keyId: c.keyId },
        'key removed upstream: needs reconnect',
      );
      await audit({
        actor: 'scheduler',
        action: 'health-check',
        tenant: c.tenant,
        connectionId: c.id,
        outcome: 'needs_reconnect',
        detail: 'the key is no longer active at Noon',
      });
    }
    return 'key-removed';
  }

  /** Rotates, one at a time, the active connections whose key is older than the policy's age. */
  async rotationPass(): Promise<PassReport> {
    const report: PassReport = { ran: false, checked: 0, failed: 0, needsReconnect: 0, rotated: 0 };
    const days = this.#o.settings.rotateAfterDays;
    if (days === undefined) return report;
    const { store, leases, connector, logger, audit } = this.#o;
    const r = await leases.runOnce(LEASES.rotation, this.#tickMs, async () => {
      const cut = this.#o.now() - days * DAY_MS;
      for (const c of await store.listConnections({ status: 'active' })) {
        const cred = c.credentialId ? await store.getCredential(c.credentialId) : undefined;
        if (!cred || cred.createdAt > cut) continue;
        try {
          const view = await connector.rotate(c.id);
          report.rotated++;
          await audit({
            actor: 'scheduler',
            action: 'rotate',
            tenant: c.tenant,
            connectionId: c.id,
            outcome: 'ok',
            detail: `rotation policy (${days} days): now key ${view.keyId ?? '?'}`,
          });
        } catch (e) {
          logger.warn({ connectionId: c.id, code: codeOf(e) }, 'policy rotation failed; retried next tick');
          await audit({
            actor: 'scheduler',
            action: 'rotate',
            tenant: c.tenant,
            connectionId: c.id,
            outcome: codeOf(e),
          });
        }
      }
    });
    report.ran = r.ran;
    return report;
  }
}
