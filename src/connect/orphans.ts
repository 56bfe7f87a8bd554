// Orphans: a key that may exist at Noon without a stored copy (an exchange or credentials/create whose answer
// was lost). Flagged at once, then repaired through the API User Service when the seller's service account is
// known: the keys nobody holds are removed and a fresh one is created (U8, P3, P5).

import { processCreateCredentialBody } from '../client/index.js';
import type { Attempt, AttemptKind } from '../store/index.js';
import { type AttemptErrorCode, attemptErrorCode, logCode } from './errors.js';
import { recordContext } from './invariants.js';
import type { AttemptKernel } from './kernel.js';
import { refusalOf } from './kernel.js';
import type { CallbackOutcome } from './types.js';

/** How a repair this call ran ended; `pending` leaves it for the reconciler. */
export type RepairResult = 'repaired' | 'needs-reconnect' | 'pending';

export class Orphans {
  readonly #k: AttemptKernel;

  constructor(kernel: AttemptKernel) {
    this.#k = kernel;
  }

  /** A key may exist upstream that we lack: flag it, alert, and repair at once when we can. */
  async orphan(attempt: Attempt, code: AttemptErrorCode): Promise<CallbackOutcome> {
    await this.flag(attempt, code);
    const now = await this.#k.store.getAttempt(attempt.id).catch(() => undefined);
    return { kind: 'pending', attemptId: attempt.id, status: now?.status ?? 'ORPHAN_SUSPECTED' };
  }

  /**
   * EXCHANGE_SENT → ORPHAN_SUSPECTED, then the repair; false when this call did not move the attempt, else how
   * the repair ended. Only from EXCHANGE_SENT: a KEY_STORED attempt holds its key and is finished, never
   * orphaned. `seenUpdatedAt` (the reconciler's read) makes the move a compare-and-set on that read, so an
   * attempt another reconciler has meanwhile taken into repair (EXCHANGE_SENT again) is not taken twice.
   */
  async flag(
    attempt: Attempt,
    code: AttemptErrorCode,
    seenUpdatedAt?: number,
  ): Promise<false | RepairResult> {
    const k = this.#k;
    const flagged = k.event('orphan_suspected', {
      tenant: attempt.tenant,
      seller_project: attempt.sellerProject,
      attempt_id: attempt.id,
      error_code: code,
    });
    const moved = await k.store
      .transition(
        attempt.id,
        'EXCHANGE_SENT',
        'ORPHAN_SUSPECTED',
        { errorCode: code, accessTokenSealed: null },
        k.now(),
        { events: [flagged], ...(seenUpdatedAt !== undefined ? { ifUpdatedAt: seenUpdatedAt } : {}) },
      )
      .catch(() => false);
    k.log({
      level: 'error',
      msg: 'orphan key suspected',
      attemptId: attempt.id,
      code,
      ...(attempt.sellerProject ? { sellerProject: attempt.sellerProject } : {}),
    });
    k.emitStored([flagged], moved);
    if (!moved) return false;
    return this.repair({ ...attempt, status: 'ORPHAN_SUSPECTED', errorCode: code }).catch((e) => {
      k.log({
        level: 'error',
        msg: 'orphan repair failed; the reconciler will retry',
        attemptId: attempt.id,
        code: logCode(e),
      });
      return 'pending' as const;
    });
  }

  /**
   * Orphan repair: when the seller's service account is known (any stored credential for the project names
   * it), remove the keys we hold no copy of and create a fresh one; otherwise NEEDS_RECONNECT. A connect attempt
   * becomes kind `repair` as the repair starts (ORPHAN_SUSPECTED → EXCHANGE_SENT), so whoever finishes it reads
   * its stored answer as credentials/create's; a rotation already is one.
   */
  async repair(attempt: Attempt): Promise<RepairResult> {
    const k = this.#k;
    const project = attempt.sellerProject;
    const known = project ? (await k.store.listCredentials({ sellerProject: project }))[0] : undefined;
    if (!project || !known) {
      const failed = k.event('failed', {
        tenant: attempt.tenant,
        seller_project: project,
        attempt_id: attempt.id,
        error_code: 'NEEDS_RECONNECT',
      });
      const moved = await k.store.transition(attempt.id, 'ORPHAN_SUSPECTED', 'NEEDS_RECONNECT', {}, k.now(), {
        events: [failed],
      });
      if (project) await k.store.releaseExchangeSlot(attempt.tenant, project, attempt.id).catch(() => {});
      k.emitStored([failed], moved);
      // Another reconciler that got there first is the one that counts it.
      return moved ? 'needs-reconnect' : 'pending';
    }
    const kind: AttemptKind = attempt.kind === 'connect' ? 'repair' : attempt.kind;
    if (!(await k.store.transition(attempt.id, 'ORPHAN_SUSPECTED', 'EXCHANGE_SENT', { kind }, k.now()))) {
      return 'pending';
    }
    const removed = await this.cleanOrphanKeys(known.channelIdentifier, project, attempt.id);
    k.log({
      level: 'warn',
      msg: `orphan repair removed ${removed} unknown key(s)`,
      attemptId: attempt.id,
      sellerProject: project,
    });
    let rawBody: string;
    let status: number;
    try {
      const r = await k.noon.apiUsers.createCredentialRequest({ channelIdentifier: known.channelIdentifier });
      rawBody = r.rawBody;
      status = r.response.status;
    } catch (e) {
      await this.#backToFlagged(attempt, attemptErrorCode(e));
      return 'pending';
    }
    if (status !== 200) {
      await this.#backToFlagged(attempt, refusalOf(processCreateCredentialBody, rawBody, status).code);
      return 'pending';
    }
    const sealed = await k.vault.seal(
      rawBody,
      recordContext(attempt.tenant, project, attempt.id, 'exchange-body'),
    );
    if (!(await k.store.storeExchangeBody(attempt.id, sealed, k.now()))) return 'pending';
    const out = await k.finishKeyStored({
      ...attempt,
      kind,
      status: 'KEY_STORED',
      rawExchangeSealed: sealed,
    });
    await k.store.releaseExchangeSlot(attempt.tenant, project, attempt.id).catch(() => {});
    return out.kind === 'connected' ? 'repaired' : 'pending';
  }

  /** The repair's credentials/create failed: flagged again, for the reconciler's next pass. */
  async #backToFlagged(attempt: Attempt, code: AttemptErrorCode): Promise<void> {
    await this.#k.store.transition(
      attempt.id,
      'EXCHANGE_SENT',
      'ORPHAN_SUSPECTED',
      { errorCode: code },
      this.#k.now(),
    );
  }

  /**
   * Removes the account's active keys that no stored credential (of any tenant) holds. Returns how many.
   * The account is shared by every tenant connecting the same seller project, so a key may belong to another
   * attempt that has it but has not stored it as a credential yet: while any such attempt is in flight nothing
   * is removed, and keys kept on attempts for an operator (NEEDS_ATTENTION) count as held.
   */
  async cleanOrphanKeys(
    channelIdentifier: string,
    sellerProject?: string,
    exceptAttemptId?: string,
  ): Promise<number> {
    const k = this.#k;
    const ours = new Set(
      (await k.store.listCredentials({ channelIdentifier, states: ['active', 'retiring'] })).map(
        (c) => c.keyId,
      ),
    );
    const project = sellerProject ?? (await k.store.listCredentials({ channelIdentifier }))[0]?.sellerProject;
    if (project) {
      const inFlight = (
        await k.store.listAttempts({
          statuses: ['EXCHANGE_SENT', 'KEY_STORED'],
          sellerProject: project,
          limit: 10,
        })
      ).filter((a) => a.id !== exceptAttemptId);
      if (inFlight.length > 0) {
        k.log({
          level: 'warn',
          msg: 'orphan cleanup postponed: another key for this seller is being stored',
          sellerProject: project,
        });
        return 0;
      }
      for (const a of await k.store.listAttempts({
        statuses: ['NEEDS_ATTENTION'],
        sellerProject: project,
        limit: 1000,
      })) {
        if (!a.rawExchangeSealed) continue;
        for (const id of await this.#keyIdsIn(a)) ours.add(id);
      }
    }
    const upstream = await k.noon.apiUsers.listCredentials({ channelIdentifier });
    let removed = 0;
    for (const key of upstream) {
      if (!key.active || ours.has(key.keyId)) continue;
      await k.noon.apiUsers.removeCredential({ channelIdentifier, keyId: key.keyId });
      removed++;
    }
    return removed;
  }

  /** Key ids named in an attempt's stored raw answer (exchange or credentials/create), read without validating. */
  async #keyIdsIn(a: Attempt): Promise<string[]> {
    try {
      const raw = await this.#k.vault.open(
        a.rawExchangeSealed!,
        recordContext(a.tenant, a.sellerProject!, a.id, 'exchange-body'),
      );
      const v = JSON.parse(raw.toString('utf8')) as { key_id?: unknown; result?: { key_id?: unknown } };
      return [v?.key_id, v?.result?.key_id].filter((x): x is string => typeof x === 'string');
    } catch {
      return [];
    }
  }
}
