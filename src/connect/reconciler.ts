// The reconciler: drives attempts a crash or a lost answer left mid-way to an end, and removes keys left
// retiring by an interrupted rotation or reconnect (P2, P3, P4, P7). Every move is a compare-and-set in the
// store, so two reconcilers (in one process or in several instances) never do the same step twice.

import type { Attempt } from '../store/index.js';
import { type ConnectFlow, TOKEN_MARGIN_MS } from './connect-flow.js';
import { logCode } from './errors.js';
import { recordContext } from './invariants.js';
import type { AttemptKernel } from './kernel.js';
import type { Orphans, RepairResult } from './orphans.js';
import type { ReconcileReport } from './types.js';

export class Reconciler {
  readonly #k: AttemptKernel;
  readonly #flow: ConnectFlow;
  readonly #orphans: Orphans;

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
    return report;
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
