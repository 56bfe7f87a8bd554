// The reconciler: drives attempts a crash or a lost answer left mid-way to an end, and removes keys left
// retiring by an interrupted rotation or reconnect (P2, P3, P4, P7). Every move is a compare-and-set in the
// store, so two reconcilers (in one process or in several instances) never do the same step twice.

import type { Attempt, PurgeResult } from '../store/index.js';
import { type ConnectFlow, TOKEN_MARGIN_MS } from './connect-flow.js';
import { logCode } from './errors.js';
import { recordContext } from './invariants.js';
import type { AttemptKernel } from './kernel.js';
import type { Orphans, RepairResult } from './orphans.js';
import type { ReconcileReport } from './types.js';

/** The store counters (window 0, never expiring) that total what retention has removed, per kind of row. */
export const PURGED_TOTALS = Object.freeze({
  attempts: 'retention:purged:attempts',
  events: 'retention:purged:events',
  deliveries: 'retention:purged:deliveries',
  answers: 'retention:dropped:answers',
} as const);

/** The pause between two retention batches. */
const PURGE_PAUSE_MS = 5;

/** How often one process asks Noon whether the key of a kept answer still exists. */
const KEPT_KEY_CHECK_MS = 60 * 60_000;

/** Key ids and the service account named in a stored raw answer (exchange or credentials/create), unvalidated. */
function keyRefsIn(raw: string): { keyIds: string[]; channelIdentifier: string | undefined } {
  try {
    const v = JSON.parse(raw) as Record<string, unknown> & { result?: Record<string, unknown> };
    const pick = (k: string) =>
      [v?.[k], v?.result?.[k]].filter((x): x is string => typeof x === 'string' && x !== '');
    return { keyIds: pick('key_id'), channelIdentifier: pick('channel_identifier')[0] };
  } catch {
    return { keyIds: [], channelIdentifier: undefined };
  }
}

export class Reconciler {
  readonly #k: AttemptKernel;
  readonly #flow: ConnectFlow;
  readonly #orphans: Orphans;
  /** When this process last asked Noon about a kept answer's key, by attempt. */
  readonly #keptChecked = new Map<string, number>();

  constructor(kernel: AttemptKernel, flow: ConnectFlow, orphans: Orphans) {
    this.#k = kernel;
    this.#flow = flow;
    this.#orphans = orphans;
  }

  /** One pass over the stuck attempts (oldest first) and the retiring keys. */
  async reconcile(): Promise<ReconcileReport> {
    const k = this.#k;
    const report: ReconcileReport = {
      examined: 0,
      failed: 0,
      resumed: 0,
      orphans: 0,
      repaired: 0,
      needsReconnect: 0,
      connected: 0,
      retiredKeys: 0,
    };
    const now = k.now();
    const t = k.o.thresholds;
    // Expired links fail in one statement, however many there are; the steps below read each stuck status on
    // its own, oldest first and already past its threshold, so a flood of fresh links cannot hide an attempt
    // whose key may be burning a slot upstream.
    report.failed += await k.store.expireStarted(now);
    const stuck: Attempt[] = [];
    for (const [status, idle] of [
      ['ORPHAN_SUSPECTED', 0],
      ['EXCHANGE_SENT', t.EXCHANGE_SENT],
      ['KEY_STORED', t.KEY_STORED],
      ['TOKEN_ISSUED', t.TOKEN_ISSUED],
      ['CLAIMED', t.CLAIMED],
    ] as const) {
      stuck.push(
        ...(await k.store.listAttempts({
          statuses: [status],
          updatedBefore: now - idle + 1,
          order: 'oldest',
          limit: 200,
        })),
      );
    }
    for (const a of stuck) {
      report.examined++;
      try {
        await this.#step(a, now, report);
      } catch (e) {
        k.log({
          level: 'warn',
          msg: 'reconcile step failed; will retry',
          attemptId: a.id,
          status: a.status,
          code: logCode(e),
        });
      }
    }
    // P7: keys left retiring by an interrupted rotation or reconnect are removed upstream.
    for (const c of await k.store.listCredentials({ states: ['retiring'] })) {
      if (now - c.createdAt < t.retiring) continue;
      const conn = await k.store.getConnection(c.connectionId);
      if (conn?.status === 'active' && conn.credentialId === c.id) continue;
      try {
        if (await k.retire(c)) report.retiredKeys++;
      } catch (e) {
        k.log({
          level: 'warn',
          msg: 'could not remove a retiring key; will retry',
          connectionId: c.connectionId,
          code: logCode(e),
        });
      }
    }
    if (k.o.retention) {
      try {
        await this.#retain(now);
      } catch (e) {
        k.log({ level: 'warn', msg: 'retention pass failed; will retry', code: logCode(e) });
      }
    }
    return report;
  }

  /**
   * Retention: first drop kept answers whose keys are gone upstream (resolved `key-removed`), then purge what is
   * older than the configured age in bounded batches, yielding between batches so callbacks are never held up
   * by more than one batch. The totals are added to store counters (every instance sees them).
   */
  async #retain(now: number): Promise<void> {
    const k = this.#k;
    const { afterMs, batchSize, maxBatches } = k.o.retention!;
    const dropped = await this.#dropAnswersOfRemovedKeys(now);
    const total: PurgeResult = { attempts: 0, events: 0, deliveries: 0, counters: 0 };
    for (let i = 0; i < maxBatches; i++) {
      const r = await k.store.purge({ before: now - afterMs, now, limit: batchSize });
      for (const key of Object.keys(total) as (keyof PurgeResult)[]) total[key] += r[key];
      if (Math.max(r.attempts, r.events, r.deliveries, r.counters) < batchSize) break;
      // A pause, not just a turn of the event loop: callbacks queued on the store meanwhile run first.
      await new Promise<void>((resolve) => setTimeout(resolve, PURGE_PAUSE_MS));
    }
    for (const [kind, n] of [
      ['attempts', total.attempts],
      ['events', total.events],
      ['deliveries', total.deliveries],
      ['answers', dropped],
    ] as const) {
      if (n > 0) await k.store.hitCounter(PURGED_TOTALS[kind], 0, Number.MAX_SAFE_INTEGER, n);
    }
    if (total.attempts + total.events + total.deliveries + dropped > 0)
      k.log({
        level: 'info',
        msg: `retention purged ${total.attempts} attempt(s), ${total.events} event(s), ${total.deliveries} delivery(ies); dropped ${dropped} kept answer(s) of removed keys`,
      });
  }

  /**
   * A kept answer (NEEDS_ATTENTION) may be the only copy of a live key, so it stays until an operator resolves
   * it, or until Noon no longer lists its key as active on the seller's service account: then the copy cannot be
   * the only one of a live key, and the attempt is resolved `key-removed`. Each is asked about at most hourly.
   */
  async #dropAnswersOfRemovedKeys(now: number): Promise<number> {
    const k = this.#k;
    let dropped = 0;
    const kept = await k.store.listAttempts({
      statuses: ['NEEDS_ATTENTION'],
      unresolved: true,
      order: 'oldest',
      limit: 50,
    });
    for (const [id, at] of this.#keptChecked) if (now - at >= KEPT_KEY_CHECK_MS) this.#keptChecked.delete(id);
    for (const a of kept) {
      if (!a.rawExchangeSealed || !a.sellerProject || this.#keptChecked.has(a.id)) continue;
      this.#keptChecked.set(a.id, now);
      try {
        const raw = await k.vault.open(
          a.rawExchangeSealed,
          recordContext(a.tenant, a.sellerProject, a.id, 'exchange-body'),
        );
        const { keyIds, channelIdentifier } = keyRefsIn(raw.toString('utf8'));
        const account = channelIdentifier ?? a.channelIdentifier;
        if (keyIds.length === 0 || !account) continue;
        const upstream = await k.noon.apiUsers.listCredentials({ channelIdentifier: account });
        if (upstream.some((key) => key.active && keyIds.includes(key.keyId))) continue;
        if (await k.store.resolveAttempt(a.id, 'key-removed', k.now())) {
          dropped++;
          k.log({
            level: 'info',
            msg: 'kept answer dropped: its key is no longer active upstream',
            attemptId: a.id,
            sellerProject: a.sellerProject,
          });
        }
      } catch (e) {
        k.log({
          level: 'warn',
          msg: 'could not check the key of a kept answer; will retry',
          attemptId: a.id,
          code: logCode(e),
        });
      }
    }
    return dropped;
  }

  /** Moves one stuck attempt on, and counts what this pass did. */
  async #step(a: Attempt, now: number, report: ReconcileReport): Promise<void> {
    const k = this.#k;
    const t = k.o.thresholds;
    const count = (r: RepairResult) => {
      if (r === 'repaired') report.repaired++;
      if (r === 'needs-reconnect') report.needsReconnect++;
    };
    switch (a.status) {
      case 'CLAIMED':
        // P2b: interrupted between claim and TOKEN_ISSUED; an access token may have been issued and is lost
        // with the process: it expires unused, nothing was created.
        if (now - a.updatedAt >= t.CLAIMED && (await k.fail(a, 'CLAIMED', 'INTERRUPTED'))) report.failed++;
        return;
      case 'TOKEN_ISSUED': {
        if (now - a.updatedAt < t.TOKEN_ISSUED) return;
        if (a.tokenExpiresAt === null || now >= a.tokenExpiresAt - TOKEN_MARGIN_MS || !a.accessTokenSealed) {
          if (await k.fail(a, 'TOKEN_ISSUED', 'TOKEN_EXPIRED')) report.failed++;
          return;
        }
        // P2a: resume the exchange with the stored token.
        const token = (
          await k.vault.open(
            a.accessTokenSealed,
            recordContext(a.tenant, a.sellerProject!, a.id, 'access-token'),
          )
        ).toString('utf8');
        const out = await this.#flow.fromTokenIssued(a, token);
        if (out.kind !== 'pending') report.resumed++;
        if (out.kind === 'connected') report.connected++;
        return;
      }
      case 'EXCHANGE_SENT': {
        // P3: the process died with the exchange (or a repair's credentials/create) in flight: the key may exist
        // upstream. Another reconciler may have taken it since this pass read it: then it is theirs.
        if (now - a.updatedAt < t.EXCHANGE_SENT) return;
        const r = await this.#orphans.flag(a, 'INTERRUPTED', a.updatedAt);
        if (r === false) return;
        // Counted by what this reconciler did, not by the status it reads after (another may have done it).
        report.orphans++;
        count(r);
        return;
      }
      case 'KEY_STORED':
        if (now - a.updatedAt >= t.KEY_STORED && (await k.finishKeyStored(a)).kind === 'connected')
          report.connected++;
        return;
      case 'ORPHAN_SUSPECTED':
        count(await this.#orphans.repair(a));
        return;
      default:
        return;
    }
  }
}
