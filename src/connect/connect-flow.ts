// The connect flow: start issues a state bound to the browser; the callback judges the request, claims the
// attempt once, and drives it CLAIMED → token/create → TOKEN_ISSUED → (exchange slot) EXCHANGE_SENT →
// token/exchange → KEY_STORED, each irreversible call between two commits, then hands it to the kernel to finish.

import { NoonError, type processCreateTokenResponse, processExchangeBody } from '../client/index.js';
import { type Attempt, type Store, TERMINAL_STATUSES } from '../store/index.js';
import {
  bindingSetCookie,
  checkReturnPath,
  checkState,
  issueState,
  newBinding,
  readBindingCookie,
  sha256Hex,
} from './binding.js';
import { parseCallbackQuery } from './callback-query.js';
import { type AttemptErrorCode, attemptErrorCode, ConnectError, logCode, requestIdOf } from './errors.js';
import { isTenant, recordContext } from './invariants.js';
import { type AttemptKernel, refusalOf } from './kernel.js';
import type { Orphans } from './orphans.js';
import type { CallbackOutcome, StartResult } from './types.js';

/** Don't start an exchange with an access token this close to its end (U10). */
export const TOKEN_MARGIN_MS = 60_000;

/** Outcomes of a first send that may have reached Noon: the call is sent once more, never in parallel. */
const UNKNOWN_OUTCOME: readonly AttemptErrorCode[] = ['OUTCOME_UNKNOWN', 'TIMEOUT', 'UPSTREAM'];

type IssuedToken = Awaited<ReturnType<typeof processCreateTokenResponse>>;

export class ConnectFlow {
  readonly #k: AttemptKernel;
  readonly #orphans: Orphans;
  readonly #stateKey: Buffer;

  constructor(kernel: AttemptKernel, orphans: Orphans, stateKey: Buffer) {
    this.#k = kernel;
    this.#orphans = orphans;
    this.#stateKey = stateKey;
  }

  /**
   * Starts a connect: issues a state bound to the browser (reusing its binding cookie if it sent one), records
   * it, and returns Noon's consent URL and the cookie to set.
   */
  async start(input: {
    tenant: string;
    returnTo?: string;
    connectionId?: string;
    cookieHeader?: string | null;
  }): Promise<StartResult> {
    const { o, store } = this.#k;
    const tenant = input.tenant;
    if (!isTenant(tenant))
      throw new ConnectError(
        'INVALID_ARGUMENT',
        'tenant must be 1-128 characters of letters, digits and ._:@-',
      );
    const returnTo = checkReturnPath(input.returnTo ?? '/', o.returnPaths);
    let connectionId: string | null = null;
    if (input.connectionId !== undefined) {
      const c = await store.getConnection(input.connectionId);
      if (!c || c.tenant !== tenant)
        throw new ConnectError('CONNECTION_NOT_FOUND', 'no such connection for this tenant');
      connectionId = c.id;
    }
    const binding = readBindingCookie(input.cookieHeader, o.secureCookies) ?? newBinding(o.randomBytes);
    const { state, stateHash } = issueState(this.#stateKey, o.environment, binding, o.randomBytes);
    const now = this.#k.now();
    const attemptId = o.uuid();
    const expiresAt = now + o.stateTtlMs;
    await store.createAttempt({
      id: attemptId,
      tenant,
      stateHash,
      environment: o.environment,
      returnTo,
      createdAt: now,
      expiresAt,
      connectionId,
    });
    const url = o.noon.oauth.authorizationUrl(
      o.redirectUri !== undefined ? { state, redirectUri: o.redirectUri } : { state },
    );
    return {
      url,
      attemptId,
      expiresAt,
      setCookie: bindingSetCookie(binding, {
        secure: o.secureCookies,
        maxAgeS: Math.floor(o.stateTtlMs / 1000),
      }),
    };
  }

  /**
   * Handles Noon's redirect back. Everything that can be judged from the request alone (method, size,
   * parameters, the state's MAC and its binding cookie) is judged before the store is touched.
   */
  async callback(request: Request): Promise<CallbackOutcome> {
    const k = this.#k;
    const query = parseCallbackQuery(request.method, request.url);
    if (query.kind === 'rejected') return query;
    const { state, code, error } = query;
    const binding = readBindingCookie(request.headers.get('cookie'), k.o.secureCookies);
    const check = checkState(this.#stateKey, k.o.environment, state, binding);
    if (check === 'malformed' || check === 'not-issued' || check === 'no-binding') {
      return { kind: 'rejected', status: 400, reason: check };
    }
    const stateHash = sha256Hex(state);
    const now = k.now();
    if (check === 'binding-mismatch') {
      // A real state from another browser (S3): refuse it, and burn it so it cannot be used again.
      await this.#burn(stateHash, now).catch(() => {});
      return { kind: 'rejected', status: 400, reason: 'binding-mismatch' };
    }

    let claim: Awaited<ReturnType<Store['claimAttempt']>>;
    try {
      claim = await k.store.claimAttempt(stateHash, now);
    } catch (e) {
      // P1: the store is down; nothing was sent upstream, so the code is not spent.
      k.log({ level: 'error', msg: 'store unavailable at callback', code: logCode(e) });
      return { kind: 'unavailable', reason: 'store' };
    }
    if (claim.outcome === 'unknown') return { kind: 'rejected', status: 400, reason: 'unknown-state' };
    if (claim.outcome === 'expired') return { kind: 'expired', attemptId: claim.attempt.id };
    if (claim.outcome === 'consumed') return k.replayed(claim.attempt);

    const attempt = claim.attempt;
    if (attempt.environment !== k.o.environment) {
      await k.fail(attempt, 'CLAIMED', 'WRONG_ENVIRONMENT');
      return { kind: 'rejected', status: 400, reason: 'wrong-environment' };
    }
    if (error !== undefined) {
      // C1: the seller said no (or Noon refused); error_description is never shown (C2).
      await k.fail(attempt, 'CLAIMED', error === 'access_denied' ? 'ACCESS_DENIED' : 'AUTHORIZE_ERROR');
      return { kind: 'denied', attemptId: attempt.id, returnTo: attempt.returnTo };
    }
    if (!code) {
      await k.fail(attempt, 'CLAIMED', 'NO_CODE');
      return { kind: 'rejected', status: 400, reason: 'no-code' };
    }
    k.driving.add(attempt.id);
    try {
      await k.hook('CLAIMED', attempt);
      return await this.#drive(attempt, code);
    } finally {
      k.driving.delete(attempt.id);
    }
  }

  async #burn(stateHash: string, now: number): Promise<void> {
    const c = await this.#k.store.claimAttempt(stateHash, now);
    if (c.outcome === 'claimed') await this.#k.fail(c.attempt, 'CLAIMED', 'BINDING_MISMATCH');
  }

  /** CLAIMED → token/create → TOKEN_ISSUED → exchange → KEY_STORED → CONNECTED. */
  async #drive(attempt: Attempt, code: string): Promise<CallbackOutcome> {
    const k = this.#k;
    let token: IssuedToken;
    try {
      token = await this.#createToken(code);
    } catch (e) {
      const c = attemptErrorCode(e);
      k.log({
        level: c === 'INVALID_CLIENT' ? 'error' : 'warn',
        msg: 'token/create failed',
        attemptId: attempt.id,
        code: logCode(e),
        ...requestIdOf(e),
      });
      await k.fail(attempt, 'CLAIMED', c);
      return k.failedOutcome(attempt, c);
    }
    await k.hook('TOKEN_CREATED', attempt);
    const now = k.now();
    const expiresAt = now + token.expiresIn * 1000;
    const sealed = await k.vault.seal(
      token.accessToken,
      recordContext(attempt.tenant, token.projectCode, attempt.id, 'access-token'),
    );
    const ok = await k.store.transition(
      attempt.id,
      'CLAIMED',
      'TOKEN_ISSUED',
      { sellerProject: token.projectCode, accessTokenSealed: sealed, tokenExpiresAt: expiresAt },
      now,
    );
    if (!ok) return k.replayedById(attempt.id);
    const issued: Attempt = {
      ...attempt,
      status: 'TOKEN_ISSUED',
      sellerProject: token.projectCode,
      accessTokenSealed: sealed,
      tokenExpiresAt: expiresAt,
    };
    await k.hook('TOKEN_ISSUED', issued);
    return this.fromTokenIssued(issued, token.accessToken);
  }

  /**
   * token/create. A code is single-use, so the client never resends it on its own; when the outcome of the
   * first send is unknown (timeout, reset, 5xx) it is sent once more, only after the first request has ended
   * (U6). "Code used" then means the first one went through and its token is lost: FAILED.
   */
  async #createToken(code: string): Promise<IssuedToken> {
    const oauth = this.#k.noon.oauth;
    try {
      return await oauth.createToken(code);
    } catch (e) {
      if (!(e instanceof NoonError) || !UNKNOWN_OUTCOME.includes(e.code)) throw e;
      this.#k.log({
        level: 'warn',
        msg: 'token/create outcome unknown; sending once more',
        code: e.code,
        ...requestIdOf(e),
      });
      return await oauth.createToken(code);
    }
  }

  /** TOKEN_ISSUED → exchange, under the (tenant, seller project) slot. The reconciler resumes here too (P2a). */
  async fromTokenIssued(attempt: Attempt, accessToken: string): Promise<CallbackOutcome> {
    const k = this.#k;
    const project = attempt.sellerProject!;
    // A reconnect of a known connection must come back with the same project.
    if (attempt.connectionId) {
      const c = await k.store.getConnection(attempt.connectionId);
      if (c && c.sellerProject !== project) {
        await k.fail(attempt, 'TOKEN_ISSUED', 'DIFFERENT_PROJECT');
        return k.failedOutcome(attempt, 'DIFFERENT_PROJECT');
      }
    }
    const slot = await this.#acquireSlot(attempt);
    if (slot === 'already-connected') {
      await k.store.transition(
        attempt.id,
        'TOKEN_ISSUED',
        'FAILED',
        { errorCode: 'ALREADY_CONNECTED' satisfies AttemptErrorCode, accessTokenSealed: null },
        k.now(),
      );
      return {
        kind: 'already_connected',
        attemptId: attempt.id,
        tenant: attempt.tenant,
        sellerProject: project,
        returnTo: attempt.returnTo,
      };
    }
    if (slot === 'busy') {
      // Still held by a live exchange: leave the attempt for the reconciler to resume.
      return { kind: 'pending', attemptId: attempt.id, status: 'TOKEN_ISSUED' };
    }
    let outcome: CallbackOutcome | undefined;
    try {
      outcome = await this.#exchange(attempt, accessToken);
      return outcome;
    } finally {
      // A connect's own commit freed the slot; any other end reads the attempt to see whether to keep it.
      const connectedHere = outcome?.kind === 'connected' && outcome.attemptId === attempt.id;
      const after = connectedHere ? undefined : await k.store.getAttempt(attempt.id).catch(() => undefined);
      if (after && after.status !== 'ORPHAN_SUSPECTED' && after.status !== 'EXCHANGE_SENT') {
        await k.store.releaseExchangeSlot(attempt.tenant, project, attempt.id).catch(() => {});
      }
    }
  }

  /**
   * One exchange in flight per (tenant, seller project), held in the database. A second attempt waits; if the
   * first connected within the window it ends "already connected" without exchanging.
   */
  async #acquireSlot(attempt: Attempt): Promise<'taken' | 'already-connected' | 'busy'> {
    const { o, store } = this.#k;
    const project = attempt.sellerProject!;
    const window = o.alreadyConnectedWindowMs;
    const deadline = this.#k.now() + o.slotWaitMs;
    for (let i = 0; ; i++) {
      if (await store.takeExchangeSlot(attempt.tenant, project, attempt.id, this.#k.now())) {
        // A free slot does not mean nobody connected: with two tabs, the first may connect and free the slot
        // before the second asks for it. Connected by another attempt since this one began → no second key.
        const done = await store.findConnection(attempt.tenant, project);
        if (
          done?.status === 'active' &&
          done.connectedAt !== null &&
          done.connectedAt > attempt.createdAt &&
          this.#k.now() - done.connectedAt <= window
        ) {
          await store.releaseExchangeSlot(attempt.tenant, project, attempt.id);
          return 'already-connected';
        }
        return 'taken';
      }
      const conn = await store.findConnection(attempt.tenant, project);
      if (
        conn?.status === 'active' &&
        conn.connectedAt !== null &&
        conn.connectedAt >= attempt.createdAt - window &&
        this.#k.now() - conn.connectedAt <= window
      ) {
        return 'already-connected';
      }
      // A slot left behind by an attempt that has ended is taken over.
      const slot = await store.getExchangeSlot(attempt.tenant, project);
      if (slot) {
        const holder = await store.getAttempt(slot.attemptId);
        if (!holder || TERMINAL_STATUSES.includes(holder.status)) {
          await store.releaseExchangeSlot(attempt.tenant, project, slot.attemptId);
          continue;
        }
      }
      if (this.#k.now() >= deadline) return 'busy';
      await o.sleep(Math.min(250, 25 * 2 ** Math.min(i, 4)));
    }
  }

  /** EXCHANGE_SENT → token/exchange → KEY_STORED (raw body, encrypted, one durable commit) → finish. */
  async #exchange(attempt: Attempt, accessToken: string): Promise<CallbackOutcome> {
    const k = this.#k;
    if (attempt.tokenExpiresAt !== null && k.now() >= attempt.tokenExpiresAt - TOKEN_MARGIN_MS) {
      // U10: an access token at or near its end is not sent.
      await k.fail(attempt, 'TOKEN_ISSUED', 'TOKEN_EXPIRED');
      return k.failedOutcome(attempt, 'TOKEN_EXPIRED');
    }
    const sends = attempt.exchangeSends + 1;
    if (
      !(await k.store.transition(
        attempt.id,
        'TOKEN_ISSUED',
        'EXCHANGE_SENT',
        { exchangeSends: sends },
        k.now(),
      ))
    ) {
      return k.replayedById(attempt.id);
    }
    const sent: Attempt = { ...attempt, status: 'EXCHANGE_SENT', exchangeSends: sends };
    await k.hook('EXCHANGE_SENT', sent);

    let answer: { status: number; rawBody: string; requestId: string | undefined } | undefined;
    let firstError: unknown;
    for (let send = 1; send <= 2 && !answer; send++) {
      try {
        const { status, rawBody, requestId } = await k.noon.oauth.exchangeTokenAnswer(accessToken);
        if (status >= 500 && send === 1) {
          firstError = new NoonError('UPSTREAM', 'token/exchange answered 5xx', { status, requestId });
          continue;
        }
        answer = { status, rawBody, requestId };
      } catch (e) {
        const c = attemptErrorCode(e);
        if (c === 'NETWORK' && send === 1) {
          // Never written to the wire (refused, DNS): the token is unspent; leave it for a later resume.
          await k.store.transition(attempt.id, 'EXCHANGE_SENT', 'TOKEN_ISSUED', {}, k.now());
          k.log({
            level: 'warn',
            msg: 'token/exchange unreachable; will resume',
            attemptId: attempt.id,
            code: c,
          });
          return { kind: 'pending', attemptId: attempt.id, status: 'TOKEN_ISSUED' };
        }
        if (send === 1 && UNKNOWN_OUTCOME.includes(c)) {
          // The first request has ended without an answer: send once more (never in parallel).
          firstError = e;
          k.log({
            level: 'warn',
            msg: 'token/exchange outcome unknown; sending once more',
            attemptId: attempt.id,
            code: c,
            ...requestIdOf(e),
          });
          await k.store.transition(
            attempt.id,
            'EXCHANGE_SENT',
            'EXCHANGE_SENT',
            { exchangeSends: 2 },
            k.now(),
          );
          continue;
        }
        if (send === 1) {
          await k.fail(attempt, 'EXCHANGE_SENT', c);
          return k.failedOutcome(attempt, c);
        }
        return this.#orphans.orphan(sent, c);
      }
    }
    if (!answer) return this.#orphans.orphan(sent, attemptErrorCode(firstError));
    await k.hook('EXCHANGE_ANSWERED', sent);

    if (answer.status !== 200) {
      // A clean refusal of the first send created nothing; after an unknown first send it may mean the key
      // exists upstream and we lack it.
      const { requestId } = answer;
      const refusal = refusalOf(
        (raw, st) => processExchangeBody(raw, st, { requestId }),
        answer.rawBody,
        answer.status,
      );
      if (firstError === undefined) {
        await k.fail(
          attempt,
          'EXCHANGE_SENT',
          refusal.code,
          refusal.detail !== null ? { errorDetail: refusal.detail } : {},
        );
        return k.failedOutcome(attempt, refusal.code);
      }
      return this.#orphans.orphan(sent, refusal.code);
    }

    // The only copy of the key: encrypted and committed before it is parsed, validated or logged.
    const sealedBody = await k.vault.seal(
      answer.rawBody,
      recordContext(attempt.tenant, attempt.sellerProject!, attempt.id, 'exchange-body'),
    );
    let stored: boolean;
    try {
      stored = await k.store.storeExchangeBody(attempt.id, sealedBody, k.now());
    } catch (e) {
      // P5: the commit failed (disk full, I/O error): the key exists upstream and we do not hold it.
      k.log({
        level: 'error',
        msg: 'could not store the exchange answer',
        attemptId: attempt.id,
        code: logCode(e),
      });
      return this.#orphans.orphan(sent, 'STORE_FAILED');
    }
    if (!stored) return k.replayedById(attempt.id);
    const keyStored: Attempt = {
      ...sent,
      status: 'KEY_STORED',
      rawExchangeSealed: sealedBody,
      accessTokenSealed: null,
    };
    await k.hook('KEY_STORED', keyStored);
    return k.finishKeyStored(keyStored, answer.requestId, answer.rawBody);
  }
}
