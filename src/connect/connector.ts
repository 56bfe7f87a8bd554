// The connect flow as a durable state machine (see docs/connect.md): each irreversible upstream call sits
// between two committed rows, so a crash at any point leaves a record the reconciler can finish, and a key Noon
// shows once is committed (encrypted) before anything can fail on it.

import { randomBytes, randomUUID } from 'node:crypto';
import {
  isLoopbackHost,
  type KeyFile,
  type NoonApiUsers,
  type NoonClient,
  NoonError,
  NoonExchangeError,
  type NoonOAuth,
  NoonSession,
  parseCredentials,
  processCreateCredentialBody,
  type processCreateTokenResponse,
  processExchangeBody,
  type Whoami,
} from '../client/index.js';
import type { Attempt, AttemptStatus, Connection, Credential, NewEvent, Store } from '../store/index.js';
import type { SealContext, Vault } from '../vault/index.js';
import {
  bindingSetCookie,
  checkReturnPath,
  checkState,
  issueState,
  newBinding,
  readBindingCookie,
  sha256Hex,
} from './binding.js';
import { ConnectError } from './errors.js';
import { type ConnectEvent, type EventPayload, type EventType, newEvent } from './events.js';
import { LruCache } from './lru.js';

/** Named points between steps, for the step hook (tests stop a process exactly there). */
export type Step =
  | 'CLAIMED'
  | 'TOKEN_CREATED'
  | 'TOKEN_ISSUED'
  | 'EXCHANGE_SENT'
  | 'EXCHANGE_ANSWERED'
  | 'KEY_STORED'
  | 'CONNECTED'
  | 'ROTATION_KEY_STORED';

export interface ConnectorLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  attemptId?: string;
  tenant?: string;
  sellerProject?: string;
  connectionId?: string;
  status?: string;
  code?: string;
  requestId?: string;
}

export interface NoonParts {
  client: NoonClient;
  /** The integrator's own session: token/create, token/exchange and the API User Service run over it. */
  oauth: NoonOAuth;
  apiUsers: NoonApiUsers;
}

export interface ConnectorOptions {
  noon: NoonParts;
  store: Store;
  vault: Vault;
  /** Names the Noon environment; a state issued for one is refused by another (S9). */
  environment: string;
  /** The connector's public URL; an https URL makes the binding cookie `__Host-` and `Secure`. */
  publicUrl: string;
  /** Passed on the authorize URL when the client has several registered redirect URIs (NC15). */
  redirectUri?: string;
  /** Allow-listed return path prefixes (default `['/']`). */
  returnPaths?: readonly string[];
  /** Life of a connect link, at most 10 minutes (default 10 minutes). */
  stateTtlMs?: number;
  clock?: { now(): number };
  randomBytes?: (n: number) => Buffer;
  uuid?: () => string;
  sleep?: (ms: number) => Promise<void>;
  webhooks?: { endpoints: readonly string[]; secret: string };
  onEvent?: (event: ConnectEvent) => void;
  /** Called after each step is committed (or, for TOKEN_CREATED and EXCHANGE_ANSWERED, reached). */
  stepHook?: (step: Step, attempt: { id: string; tenant: string }) => void | Promise<void>;
  /** Log in as the seller and call whoami before reporting connected (default true). */
  verifyLogin?: boolean;
  logger?: (entry: ConnectorLogEntry) => void;
  /** A second attempt for a seller finishes as "already connected" if the first connected this recently. */
  alreadyConnectedWindowMs?: number;
  /** How long a second attempt waits for the seller's exchange slot. */
  slotWaitMs?: number;
  /** Reconciler thresholds: an attempt idle this long in a state is taken over. */
  reconcileAfterMs?: Partial<
    Record<'CLAIMED' | 'TOKEN_ISSUED' | 'EXCHANGE_SENT' | 'KEY_STORED' | 'retiring', number>
  >;
  /** Seller sessions kept with their imported keys (LRU). */
  sellerSessionCacheSize?: number;
}

export type CallbackOutcome =
  | { kind: 'rejected'; status: 400 | 405 | 414; reason: string }
  | { kind: 'expired'; attemptId: string }
  | { kind: 'denied'; attemptId: string; returnTo: string }
  | {
      kind: 'connected';
      attemptId: string;
      tenant: string;
      sellerProject: string;
      connectionId: string;
      returnTo: string;
      reconnected: boolean;
    }
  | {
      kind: 'already_connected';
      attemptId: string;
      tenant: string;
      sellerProject: string | null;
      returnTo: string;
    }
  | { kind: 'failed'; attemptId: string; code: string; reconnect: boolean; oauthRequestId: string | null }
  | { kind: 'pending'; attemptId: string; status: AttemptStatus }
  | { kind: 'unavailable'; reason: string };

export interface StartResult {
  url: string;
  attemptId: string;
  expiresAt: number;
  /** `Set-Cookie` value binding the link to this browser. */
  setCookie: string;
}

export interface ReconcileReport {
  examined: number;
  failed: number;
  resumed: number;
  orphans: number;
  repaired: number;
  needsReconnect: number;
  connected: number;
  retiredKeys: number;
}

export interface HealthResult {
  ok: boolean;
  checkedAt: number;
  detail: string;
  whoami?: Whoami;
}

export interface ConnectionView {
  id: string;
  tenant: string;
  sellerProject: string;
  status: Connection['status'];
  keyId: string | null;
  channelIdentifier: string | null;
  oauthRequestId: string | null;
  createdAt: number;
  connectedAt: number | null;
  updatedAt: number;
  lastHealthAt: number | null;
  lastHealthOk: boolean | null;
}

const MAX_STATE_TTL_MS = 10 * 60_000;
const TENANT = /^[A-Za-z0-9._:@-]{1,128}$/;
const TERMINAL: readonly AttemptStatus[] = [
  'CONNECTED',
  'FAILED',
  'NEEDS_ATTENTION',
  'REPAIRED',
  'NEEDS_RECONNECT',
];
const MAX_KEYS = 5;
/** Don't start an exchange with an access token this close to its end (U10). */
const TOKEN_MARGIN_MS = 60_000;
const REPAIR_MARKER = 'ORPHAN_REPAIR';

/** What the callback query may hold; anything else is refused or ignored. */
const MAX_QUERY_PARAMS = 20;
const MAX_URL = 4096;

function viewOf(c: Connection): ConnectionView {
  return {
    id: c.id,
    tenant: c.tenant,
    sellerProject: c.sellerProject,
    status: c.status,
    keyId: c.keyId,
    channelIdentifier: c.channelIdentifier,
    oauthRequestId: c.oauthRequestId,
    createdAt: c.createdAt,
    connectedAt: c.connectedAt,
    updatedAt: c.updatedAt,
    lastHealthAt: c.lastHealthAt,
    lastHealthOk: c.lastHealthOk,
  };
}

function errorCode(e: unknown): string {
  if (e instanceof NoonError) return e.code;
  if (e instanceof ConnectError) return e.code;
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return 'INTERNAL';
}

/** Reads one query parameter that must appear at most once. */
function once(params: URLSearchParams, name: string): string | undefined | null {
  const all = params.getAll(name);
  return all.length > 1 ? null : all[0];
}

export class Connector {
  readonly #o: Required<
    Pick<
      ConnectorOptions,
      'environment' | 'publicUrl' | 'verifyLogin' | 'alreadyConnectedWindowMs' | 'slotWaitMs'
    >
  > &
    ConnectorOptions;
  readonly #store: Store;
  readonly #vault: Vault;
  readonly #noon: NoonParts;
  readonly #stateKey: Buffer;
  readonly #secure: boolean;
  readonly #ttl: number;
  readonly #returnPaths: readonly string[];
  readonly #now: () => number;
  readonly #random: (n: number) => Buffer;
  readonly #uuid: () => string;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #thresholds: Required<NonNullable<ConnectorOptions['reconcileAfterMs']>>;
  readonly #sessions: LruCache<string, NoonSession>;
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Attempts this process is driving from their claim on: a repeated callback must not finish one twice. */
  readonly #driving = new Set<string>();

  constructor(options: ConnectorOptions, stateKey: Buffer) {
    this.#o = {
      verifyLogin: true,
      alreadyConnectedWindowMs: 10 * 60_000,
      slotWaitMs: 20_000,
      ...options,
    };
    this.#store = options.store;
    this.#vault = options.vault;
    this.#noon = options.noon;
    this.#stateKey = stateKey;
    this.#secure = new URL(options.publicUrl).protocol === 'https:';
    this.#ttl = options.stateTtlMs ?? MAX_STATE_TTL_MS;
    this.#returnPaths = Object.freeze([...(options.returnPaths ?? ['/'])]);
    this.#now = options.clock ? () => options.clock!.now() : Date.now;
    this.#random = options.randomBytes ?? randomBytes;
    this.#uuid = options.uuid ?? randomUUID;
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#thresholds = {
      CLAIMED: 2 * 60_000,
      TOKEN_ISSUED: 60_000,
      EXCHANGE_SENT: 2 * 60_000,
      KEY_STORED: 60_000,
      retiring: 60_000,
      ...(options.reconcileAfterMs ?? {}),
    };
    this.#sessions = new LruCache(options.sellerSessionCacheSize ?? 100);
  }

  get environment(): string {
    return this.#o.environment;
  }

  /** Whether the binding cookie is `__Host-`/`Secure` (the public URL is https). */
  get secureCookies(): boolean {
    return this.#secure;
  }

  get stateTtlMs(): number {
    return this.#ttl;
  }

  // --- start ---------------------------------------------------------------------------------------

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
    const tenant = input.tenant;
    if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
      throw new ConnectError(
        'INVALID_ARGUMENT',
        'tenant must be 1-128 characters of letters, digits and ._:@-',
      );
    }
    const returnTo = checkReturnPath(input.returnTo ?? '/', this.#returnPaths);
    let connectionId: string | null = null;
    if (input.connectionId !== undefined) {
      const c = await this.#store.getConnection(input.connectionId);
      if (!c || c.tenant !== tenant)
        throw new ConnectError('CONNECTION_NOT_FOUND', 'no such connection for this tenant');
      connectionId = c.id;
    }
    const binding = readBindingCookie(input.cookieHeader, this.#secure) ?? newBinding(this.#random);
    const { state, stateHash } = issueState(this.#stateKey, this.#o.environment, binding, this.#random);
    const now = this.#now();
    const attemptId = this.#uuid();
    const expiresAt = now + this.#ttl;
    await this.#store.createAttempt({
      id: attemptId,
      tenant,
      stateHash,
      environment: this.#o.environment,
      returnTo,
      createdAt: now,
      expiresAt,
      connectionId,
    });
    const url = this.#noon.oauth.authorizationUrl(
      this.#o.redirectUri !== undefined ? { state, redirectUri: this.#o.redirectUri } : { state },
    );
    return {
      url,
      attemptId,
      expiresAt,
      setCookie: bindingSetCookie(binding, { secure: this.#secure, maxAgeS: Math.floor(this.#ttl / 1000) }),
    };
  }

  // --- callback ------------------------------------------------------------------------------------

  /**
   * Handles Noon's redirect back. Everything that can be judged from the request alone (method, size,
   * parameters, the state's MAC and its binding cookie) is judged before the store is touched.
   */
  callback(request: Request): Promise<CallbackOutcome> {
    const p = this.#callback(request);
    this.#inFlight.add(p);
    return p.finally(() => this.#inFlight.delete(p));
  }

  /** Resolves when the callbacks in progress have finished (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #callback(request: Request): Promise<CallbackOutcome> {
    if (request.method !== 'GET') return { kind: 'rejected', status: 405, reason: 'method' };
    const raw = request.url;
    if (raw.length > MAX_URL) return { kind: 'rejected', status: 414, reason: 'too-long' };
    const q = raw.indexOf('?');
    const rawQuery = q < 0 ? '' : raw.slice(q + 1);
    // NUL, CR, LF or other control characters, raw or encoded, and bad percent-encoding end it here (C4).
    if (/[\u0000-\u001f\u007f]/.test(rawQuery) || /%(0[0-9a-f]|1[0-9a-f]|7f)/i.test(rawQuery)) {
      return { kind: 'rejected', status: 400, reason: 'control-characters' };
    }
    const pairs = rawQuery === '' ? [] : rawQuery.split('&');
    if (pairs.length > MAX_QUERY_PARAMS)
      return { kind: 'rejected', status: 400, reason: 'too-many-parameters' };
    for (const pair of pairs) {
      try {
        decodeURIComponent(pair.replace(/\+/g, ' '));
      } catch {
        return { kind: 'rejected', status: 400, reason: 'bad-encoding' };
      }
    }
    const params = new URLSearchParams(rawQuery);
    // A token in the callback URL is never ours to accept (C5).
    if (params.has('access_token') || params.has('token') || params.has('id_token')) {
      return { kind: 'rejected', status: 400, reason: 'token-in-url' };
    }
    const state = once(params, 'state');
    const code = once(params, 'code');
    const error = once(params, 'error');
    if (state === null || code === null || error === null)
      return { kind: 'rejected', status: 400, reason: 'repeated-parameter' };
    if (!state) return { kind: 'rejected', status: 400, reason: 'no-state' };
    if (state.length > 512 || (code !== undefined && code.length > 2048))
      return { kind: 'rejected', status: 400, reason: 'too-long' };

    const binding = readBindingCookie(request.headers.get('cookie'), this.#secure);
    const check = checkState(this.#stateKey, this.#o.environment, state, binding);
    if (check === 'malformed' || check === 'not-issued' || check === 'no-binding') {
      return { kind: 'rejected', status: 400, reason: check };
    }
    const stateHash = sha256Hex(state);
    const now = this.#now();
    if (check === 'binding-mismatch') {
      // A real state from another browser (S3): refuse it, and burn it so it cannot be used again.
      await this.#burn(stateHash, now, 'BINDING_MISMATCH').catch(() => {});
      return { kind: 'rejected', status: 400, reason: 'binding-mismatch' };
    }

    let claim: Awaited<ReturnType<Store['claimAttempt']>>;
    try {
      claim = await this.#store.claimAttempt(stateHash, now);
    } catch (e) {
      // P1: the store is down; nothing was sent upstream, so the code is not spent.
      this.#log({ level: 'error', msg: 'store unavailable at callback', code: errorCode(e) });
      return { kind: 'unavailable', reason: 'store' };
    }
    if (claim.outcome === 'unknown') return { kind: 'rejected', status: 400, reason: 'unknown-state' };
    if (claim.outcome === 'expired') return { kind: 'expired', attemptId: claim.attempt.id };
    if (claim.outcome === 'consumed') return this.#replayed(claim.attempt);

    const attempt = claim.attempt;
    if (attempt.environment !== this.#o.environment) {
      await this.#fail(attempt, 'CLAIMED', 'WRONG_ENVIRONMENT');
      return { kind: 'rejected', status: 400, reason: 'wrong-environment' };
    }
    if (error !== undefined) {
      // C1: the seller said no (or Noon refused); error_description is never shown (C2).
      await this.#fail(attempt, 'CLAIMED', error === 'access_denied' ? 'ACCESS_DENIED' : 'AUTHORIZE_ERROR');
      return { kind: 'denied', attemptId: attempt.id, returnTo: attempt.returnTo };
    }
    if (!code) {
      await this.#fail(attempt, 'CLAIMED', 'NO_CODE');
      return { kind: 'rejected', status: 400, reason: 'no-code' };
    }
    this.#driving.add(attempt.id);
    try {
      await this.#hook('CLAIMED', attempt);
      return await this.#drive(attempt, code);
    } finally {
      this.#driving.delete(attempt.id);
    }
  }

  async #burn(stateHash: string, now: number, why: string): Promise<void> {
    const c = await this.#store.claimAttempt(stateHash, now);
    if (c.outcome === 'claimed') await this.#fail(c.attempt, 'CLAIMED', why);
  }

  /** A state used again: a refresh or back button after the flow (S6) calls nothing upstream. */
  async #replayed(a: Attempt): Promise<CallbackOutcome> {
    switch (a.status) {
      case 'CONNECTED':
      case 'REPAIRED':
        return {
          kind: 'already_connected',
          attemptId: a.id,
          tenant: a.tenant,
          sellerProject: a.sellerProject,
          returnTo: a.returnTo,
        };
      case 'KEY_STORED':
        // P4: the key is stored but the first response never made it; finish from the stored body. Unless this
        // process is finishing it right now (the same callback again while the first one works, S5): one finish.
        if (this.#driving.has(a.id)) return { kind: 'pending', attemptId: a.id, status: a.status };
        return this.#finishKeyStored(a);
      case 'FAILED':
        if (a.errorCode === 'ALREADY_CONNECTED') {
          return {
            kind: 'already_connected',
            attemptId: a.id,
            tenant: a.tenant,
            sellerProject: a.sellerProject,
            returnTo: a.returnTo,
          };
        }
        if (a.errorCode === 'ACCESS_DENIED') return { kind: 'denied', attemptId: a.id, returnTo: a.returnTo };
        if (a.errorCode === 'STATE_EXPIRED') return { kind: 'expired', attemptId: a.id };
        return this.#failedOutcome(a, a.errorCode ?? 'FAILED');
      case 'NEEDS_RECONNECT':
      case 'NEEDS_ATTENTION':
        // Ended: a refresh must not say "finishing, check back" about an attempt nothing will finish.
        return this.#failedOutcome(a, a.status);
      default:
        return { kind: 'pending', attemptId: a.id, status: a.status };
    }
  }

  #failedOutcome(a: Attempt, code: string): CallbackOutcome {
    const reconnect = !['INVALID_CLIENT', 'CLIENT_NOT_OWNED', 'NEEDS_ATTENTION'].includes(code);
    return { kind: 'failed', attemptId: a.id, code, reconnect, oauthRequestId: a.oauthRequestId };
  }

  /** CLAIMED → token/create → TOKEN_ISSUED → exchange → KEY_STORED → CONNECTED. */
  async #drive(attempt: Attempt, code: string): Promise<CallbackOutcome> {
    let token: Awaited<ReturnType<typeof processCreateTokenResponse>>;
    try {
      token = await this.#createToken(code);
    } catch (e) {
      const c = errorCode(e);
      this.#log({
        level: c === 'INVALID_CLIENT' ? 'error' : 'warn',
        msg: 'token/create failed',
        attemptId: attempt.id,
        code: c,
        ...reqId(e),
      });
      await this.#fail(attempt, 'CLAIMED', c);
      return this.#failedOutcome(attempt, c);
    }
    await this.#hook('TOKEN_CREATED', attempt);
    const now = this.#now();
    const expiresAt = now + token.expiresIn * 1000;
    const sealed = await this.#vault.seal(
      token.accessToken,
      this.#ctx(attempt.tenant, token.projectCode, attempt.id, 'access-token'),
    );
    const ok = await this.#store.transition(
      attempt.id,
      'CLAIMED',
      'TOKEN_ISSUED',
      { sellerProject: token.projectCode, accessTokenSealed: sealed, tokenExpiresAt: expiresAt },
      now,
    );
    if (!ok) return this.#replayed((await this.#store.getAttempt(attempt.id))!);
    const issued: Attempt = {
      ...attempt,
      status: 'TOKEN_ISSUED',
      sellerProject: token.projectCode,
      accessTokenSealed: sealed,
      tokenExpiresAt: expiresAt,
    };
    await this.#hook('TOKEN_ISSUED', issued);
    return this.#fromTokenIssued(issued, token.accessToken);
  }

  /**
   * token/create. A code is single-use, so the client never resends it on its own; when the outcome of the
   * first send is unknown (timeout, reset, 5xx) it is sent once more, only after the first request has ended
   * (U6). "Code used" then means the first one went through and its token is lost: FAILED.
   */
  async #createToken(code: string) {
    try {
      return await this.#noon.oauth.createToken(code);
    } catch (e) {
      if (!(e instanceof NoonError) || !['OUTCOME_UNKNOWN', 'UPSTREAM', 'TIMEOUT'].includes(e.code)) throw e;
      this.#log({
        level: 'warn',
        msg: 'token/create outcome unknown; sending once more',
        code: e.code,
        ...reqId(e),
      });
      return await this.#noon.oauth.createToken(code);
    }
  }

  /** TOKEN_ISSUED → exchange, under the (tenant, seller project) slot. */
  async #fromTokenIssued(attempt: Attempt, accessToken: string): Promise<CallbackOutcome> {
    const project = attempt.sellerProject!;
    // A reconnect of a known connection must come back with the same project.
    if (attempt.connectionId) {
      const c = await this.#store.getConnection(attempt.connectionId);
      if (c && c.sellerProject !== project) {
        await this.#fail(attempt, 'TOKEN_ISSUED', 'DIFFERENT_PROJECT');
        return this.#failedOutcome(attempt, 'DIFFERENT_PROJECT');
      }
    }
    const slot = await this.#acquireSlot(attempt);
    if (slot === 'already-connected') {
      await this.#store.transition(
        attempt.id,
        'TOKEN_ISSUED',
        'FAILED',
        { errorCode: 'ALREADY_CONNECTED', accessTokenSealed: null },
        this.#now(),
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
    try {
      return await this.#exchange(attempt, accessToken);
    } finally {
      const after = await this.#store.getAttempt(attempt.id).catch(() => undefined);
      if (after && after.status !== 'ORPHAN_SUSPECTED' && after.status !== 'EXCHANGE_SENT') {
        await this.#store.releaseExchangeSlot(attempt.tenant, project, attempt.id).catch(() => {});
      }
    }
  }

  /**
   * One exchange in flight per (tenant, seller project), held in the database. A second attempt waits; if the
   * first connected within the window it ends "already connected" without exchanging.
   */
  async #acquireSlot(attempt: Attempt): Promise<'taken' | 'already-connected' | 'busy'> {
    const project = attempt.sellerProject!;
    const deadline = this.#now() + this.#o.slotWaitMs;
    for (let i = 0; ; i++) {
      if (await this.#store.takeExchangeSlot(attempt.tenant, project, attempt.id, this.#now())) {
        // A free slot does not mean nobody connected: with two tabs, the first may connect and free the slot
        // before the second asks for it. Connected by another attempt since this one began → no second key.
        const done = await this.#store.findConnection(attempt.tenant, project);
        if (
          done?.status === 'active' &&
          done.connectedAt !== null &&
          done.connectedAt > attempt.createdAt &&
          this.#now() - done.connectedAt <= this.#o.alreadyConnectedWindowMs
        ) {
          await this.#store.releaseExchangeSlot(attempt.tenant, project, attempt.id);
          return 'already-connected';
        }
        return 'taken';
      }
      const conn = await this.#store.findConnection(attempt.tenant, project);
      if (
        conn?.status === 'active' &&
        conn.connectedAt !== null &&
        conn.connectedAt >= attempt.createdAt - this.#o.alreadyConnectedWindowMs &&
        this.#now() - conn.connectedAt <= this.#o.alreadyConnectedWindowMs
      ) {
        return 'already-connected';
      }
      // A slot left behind by an attempt that has ended is taken over.
      const slot = await this.#store.getExchangeSlot(attempt.tenant, project);
      if (slot) {
        const holder = await this.#store.getAttempt(slot.attemptId);
        if (!holder || TERMINAL.includes(holder.status)) {
          await this.#store.releaseExchangeSlot(attempt.tenant, project, slot.attemptId);
          continue;
        }
      }
      if (this.#now() >= deadline) return 'busy';
      await this.#sleep(Math.min(250, 25 * 2 ** Math.min(i, 4)));
    }
  }

  /** EXCHANGE_SENT → token/exchange → KEY_STORED (raw body, encrypted, one durable commit) → finish. */
  async #exchange(attempt: Attempt, accessToken: string): Promise<CallbackOutcome> {
    if (attempt.tokenExpiresAt !== null && this.#now() >= attempt.tokenExpiresAt - TOKEN_MARGIN_MS) {
      // U10: an access token at or near its end is not sent.
      await this.#fail(attempt, 'TOKEN_ISSUED', 'TOKEN_EXPIRED');
      return this.#failedOutcome(attempt, 'TOKEN_EXPIRED');
    }
    const sends = attempt.exchangeSends + 1;
    if (
      !(await this.#store.transition(
        attempt.id,
        'TOKEN_ISSUED',
        'EXCHANGE_SENT',
        { exchangeSends: sends },
        this.#now(),
      ))
    ) {
      return this.#replayed((await this.#store.getAttempt(attempt.id))!);
    }
    const sent: Attempt = { ...attempt, status: 'EXCHANGE_SENT', exchangeSends: sends };
    await this.#hook('EXCHANGE_SENT', sent);

    let answer: { status: number; rawBody: string; requestId: string | undefined } | undefined;
    let firstError: unknown;
    for (let send = 1; send <= 2 && !answer; send++) {
      try {
        const { response, rawBody } = await this.#noon.oauth.exchangeTokenRequest(accessToken);
        const requestId = response.headers.get('x-request-id') ?? undefined;
        if (response.status >= 500 && send === 1) {
          firstError = new NoonError('UPSTREAM', 'token/exchange answered 5xx', {
            status: response.status,
            requestId,
          });
          continue;
        }
        answer = { status: response.status, rawBody, requestId };
      } catch (e) {
        const c = errorCode(e);
        if (c === 'NETWORK' && send === 1) {
          // Never written to the wire (refused, DNS): the token is unspent; leave it for a later resume.
          await this.#store.transition(attempt.id, 'EXCHANGE_SENT', 'TOKEN_ISSUED', {}, this.#now());
          this.#log({
            level: 'warn',
            msg: 'token/exchange unreachable; will resume',
            attemptId: attempt.id,
            code: c,
          });
          return { kind: 'pending', attemptId: attempt.id, status: 'TOKEN_ISSUED' };
        }
        if (send === 1 && (c === 'OUTCOME_UNKNOWN' || c === 'TIMEOUT' || c === 'UPSTREAM')) {
          // The first request has ended without an answer: send once more (never in parallel).
          firstError = e;
          this.#log({
            level: 'warn',
            msg: 'token/exchange outcome unknown; sending once more',
            attemptId: attempt.id,
            code: c,
            ...reqId(e),
          });
          await this.#store.transition(
            attempt.id,
            'EXCHANGE_SENT',
            'EXCHANGE_SENT',
            { exchangeSends: 2 },
            this.#now(),
          );
          continue;
        }
        if (send === 1) {
          await this.#fail(attempt, 'EXCHANGE_SENT', c);
          return this.#failedOutcome(attempt, c);
        }
        return this.#orphan(sent, c);
      }
    }
    if (!answer) return this.#orphan(sent, errorCode(firstError));
    await this.#hook('EXCHANGE_ANSWERED', sent);

    if (answer.status !== 200) {
      // A clean refusal of the first send created nothing; after an unknown first send it may mean the key
      // exists upstream and we lack it.
      let c = `HTTP_${answer.status}`;
      try {
        processExchangeBody(answer.rawBody, answer.status, { requestId: answer.requestId });
      } catch (e) {
        c = errorCode(e);
      }
      if (firstError === undefined) {
        await this.#fail(attempt, 'EXCHANGE_SENT', c);
        return this.#failedOutcome(attempt, c);
      }
      return this.#orphan(sent, c);
    }

    // The only copy of the key: encrypted and committed before it is parsed, validated or logged.
    const sealedBody = await this.#vault.seal(
      answer.rawBody,
      this.#ctx(attempt.tenant, attempt.sellerProject!, attempt.id, 'exchange-body'),
    );
    let stored: boolean;
    try {
      stored = await this.#store.storeExchangeBody(attempt.id, sealedBody, this.#now());
    } catch (e) {
      // P5: the commit failed (disk full, I/O error): the key exists upstream and we do not hold it.
      this.#log({
        level: 'error',
        msg: 'could not store the exchange answer',
        attemptId: attempt.id,
        code: errorCode(e),
      });
      return this.#orphan(sent, 'STORE_FAILED');
    }
    if (!stored) return this.#replayed((await this.#store.getAttempt(attempt.id))!);
    const keyStored: Attempt = {
      ...sent,
      status: 'KEY_STORED',
      rawExchangeSealed: sealedBody,
      accessTokenSealed: null,
    };
    await this.#hook('KEY_STORED', keyStored);
    return this.#finishKeyStored(keyStored, answer.requestId);
  }

  /** KEY_STORED → validate → CONNECTED (or NEEDS_ATTENTION, or FAILED for a workflow failure). */
  async #finishKeyStored(attempt: Attempt, requestId?: string): Promise<CallbackOutcome> {
    const project = attempt.sellerProject!;
    const repair = attempt.errorCode === REPAIR_MARKER || attempt.kind !== 'connect';
    let keyFile: KeyFile;
    let oauthRequestId: string | null = attempt.oauthRequestId;
    try {
      // Raw answers (exchange or credentials/create) share one purpose; the attempt says which kind it is.
      const purpose = 'exchange-body';
      const raw = (
        await this.#vault.open(
          attempt.rawExchangeSealed!,
          this.#ctx(attempt.tenant, project, attempt.id, purpose),
        )
      ).toString('utf8');
      if (repair) {
        keyFile = processCreateCredentialBody(raw, 200, { requestId }).keyFile;
        if (keyFile.project_code !== project)
          throw new NoonError('PROJECT_MISMATCH', 'the new key names another project');
      } else {
        const r = processExchangeBody(raw, 200, { expectedProjectCode: project, requestId });
        keyFile = r.keyFile;
        oauthRequestId = r.oauthRequestId;
      }
    } catch (e) {
      if (e instanceof NoonExchangeError) {
        // U9b / NC29: HTTP 200 with status.code ≠ 0: nothing usable was created; keep oauth_request_id.
        const rid = e.oauthRequestId ?? null;
        await this.#fail(attempt, 'KEY_STORED', `EXCHANGE_STATUS_${e.statusCode}`, {
          oauthRequestId: rid,
          rawExchangeSealed: null,
        });
        return {
          kind: 'failed',
          attemptId: attempt.id,
          code: `EXCHANGE_STATUS_${e.statusCode}`,
          reconnect: true,
          oauthRequestId: rid,
        };
      }
      // U9: the answer is stored (encrypted) but fails validation: an operator decides.
      const c = errorCode(e);
      this.#log({
        level: 'error',
        msg: 'stored key failed validation',
        attemptId: attempt.id,
        code: c,
        ...reqId(e),
      });
      return this.#needsAttention(attempt, c, oauthRequestId);
    }

    if (this.#o.verifyLogin) {
      try {
        const s = new NoonSession(this.#noon.client, parseCredentials(keyFile), { projectCode: project });
        const who = await s.whoami();
        if (who.projectCode !== project || who.keyId !== keyFile.key_id)
          throw new NoonError('RESPONSE_INVALID', 'whoami names another key or project');
      } catch (e) {
        const c = `LOGIN_${errorCode(e)}`;
        this.#log({
          level: 'error',
          msg: 'seller login with the new key failed',
          attemptId: attempt.id,
          code: c,
        });
        return this.#needsAttention(attempt, c, oauthRequestId);
      }
    }

    const now = this.#now();
    const credentialId = this.#uuid();
    const sealed = await this.#vault.seal(
      JSON.stringify(keyFile),
      this.#ctx(attempt.tenant, project, credentialId, 'seller-key-file'),
    );
    const existing = attempt.connectionId
      ? await this.#store.getConnection(attempt.connectionId)
      : await this.#store.findConnection(attempt.tenant, project);
    const type: EventType =
      attempt.kind === 'rotate' ? 'rotated' : repair ? 'repaired' : existing ? 'reconnected' : 'connected';
    const connectionId = existing?.id ?? this.#uuid();
    const connectedEvent = this.#event(type, {
      tenant: attempt.tenant,
      seller_project: project,
      connection_id: connectionId,
      attempt_id: attempt.id,
      key_id: keyFile.key_id,
      channel_identifier: keyFile.channel_identifier,
      oauth_request_id: oauthRequestId,
    });
    const result = await this.#store.connect({
      attemptId: attempt.id,
      connectionId,
      credential: {
        id: credentialId,
        connectionId,
        tenant: attempt.tenant,
        sellerProject: project,
        keyId: keyFile.key_id,
        channelIdentifier: keyFile.channel_identifier,
        sealed,
        createdAt: now,
      },
      userCode: null,
      oauthRequestId,
      now,
      events: [connectedEvent],
    });
    this.#emitStored([connectedEvent], result !== undefined);
    if (!result) return this.#replayed((await this.#store.getAttempt(attempt.id))!);
    if (repair && attempt.kind === 'connect') {
      await this.#store.transition(attempt.id, 'CONNECTED', 'REPAIRED', {}, this.#now());
    }
    this.#log({
      level: 'info',
      msg: `seller ${type}`,
      attemptId: attempt.id,
      tenant: attempt.tenant,
      sellerProject: project,
      connectionId: result.connection.id,
    });
    await this.#hook(attempt.kind === 'rotate' ? 'ROTATION_KEY_STORED' : 'CONNECTED', attempt);
    // Make before break: the new key is stored and in use; only now is the old one removed upstream.
    if (result.previous) await this.#retire(result.previous).catch(() => {});
    return {
      kind: 'connected',
      attemptId: attempt.id,
      tenant: attempt.tenant,
      sellerProject: project,
      connectionId: result.connection.id,
      returnTo: attempt.returnTo,
      reconnected: type !== 'connected',
    };
  }

  /** U9: a stored key that failed validation is kept (encrypted) on its attempt for an operator to decide. */
  async #needsAttention(
    attempt: Attempt,
    code: string,
    oauthRequestId: string | null,
  ): Promise<CallbackOutcome> {
    const event = this.#event('needs_attention', {
      tenant: attempt.tenant,
      seller_project: attempt.sellerProject,
      attempt_id: attempt.id,
      error_code: code,
    });
    const moved = await this.#store.transition(
      attempt.id,
      'KEY_STORED',
      'NEEDS_ATTENTION',
      { errorCode: code },
      this.#now(),
      {
        events: [event],
      },
    );
    this.#emitStored([event], moved);
    return {
      kind: 'failed',
      attemptId: attempt.id,
      code: 'NEEDS_ATTENTION',
      reconnect: false,
      oauthRequestId,
    };
  }

  // --- orphans -------------------------------------------------------------------------------------

  /** A key may exist upstream that we lack: flag it, alert, and repair at once when we can (U8, P3, P5). */
  async #orphan(attempt: Attempt, code: string): Promise<CallbackOutcome> {
    await this.#flagOrphan(attempt, code);
    const now = await this.#store.getAttempt(attempt.id).catch(() => undefined);
    return { kind: 'pending', attemptId: attempt.id, status: now?.status ?? 'ORPHAN_SUSPECTED' };
  }

  /**
   * EXCHANGE_SENT → ORPHAN_SUSPECTED, then the repair; false when this call did not move the attempt, else how
   * the repair ended. Only from EXCHANGE_SENT: a KEY_STORED attempt holds its key and is finished, never
   * orphaned. `seenUpdatedAt` (the reconciler's read) makes the move a compare-and-set on that read, so an
   * attempt another reconciler has meanwhile taken into repair (EXCHANGE_SENT again) is not taken twice.
   */
  async #flagOrphan(
    attempt: Attempt,
    code: string,
    seenUpdatedAt?: number,
  ): Promise<false | 'repaired' | 'needs-reconnect' | 'pending'> {
    const flagged = this.#event('orphan_suspected', {
      tenant: attempt.tenant,
      seller_project: attempt.sellerProject,
      attempt_id: attempt.id,
      error_code: code,
    });
    const moved = await this.#store
      .transition(
        attempt.id,
        'EXCHANGE_SENT',
        'ORPHAN_SUSPECTED',
        { errorCode: code, accessTokenSealed: null },
        this.#now(),
        {
          events: [flagged],
          ...(seenUpdatedAt !== undefined ? { ifUpdatedAt: seenUpdatedAt } : {}),
        },
      )
      .catch(() => false);
    this.#log({
      level: 'error',
      msg: 'orphan key suspected',
      attemptId: attempt.id,
      code,
      ...(attempt.sellerProject ? { sellerProject: attempt.sellerProject } : {}),
    });
    this.#emitStored([flagged], moved);
    if (!moved) return false;
    return this.#repair({ ...attempt, status: 'ORPHAN_SUSPECTED', errorCode: code }).catch((e) => {
      this.#log({
        level: 'error',
        msg: 'orphan repair failed; the reconciler will retry',
        attemptId: attempt.id,
        code: errorCode(e),
      });
      return 'pending' as const;
    });
  }

  /**
   * Orphan repair: when the seller's service account is known (any stored credential for the project names
   * it), remove the keys we hold no copy of and create a fresh one; otherwise NEEDS_RECONNECT.
   */
  async #repair(attempt: Attempt): Promise<'repaired' | 'needs-reconnect' | 'pending'> {
    const project = attempt.sellerProject;
    const known = project ? (await this.#store.listCredentials({ sellerProject: project }))[0] : undefined;
    if (!project || !known) {
      const failed = this.#event('failed', {
        tenant: attempt.tenant,
        seller_project: project,
        attempt_id: attempt.id,
        error_code: 'NEEDS_RECONNECT',
      });
      const moved = await this.#store.transition(
        attempt.id,
        'ORPHAN_SUSPECTED',
        'NEEDS_RECONNECT',
        {},
        this.#now(),
        {
          events: [failed],
        },
      );
      if (project) await this.#store.releaseExchangeSlot(attempt.tenant, project, attempt.id).catch(() => {});
      this.#emitStored([failed], moved);
      // Another reconciler that got there first is the one that counts it.
      return moved ? 'needs-reconnect' : 'pending';
    }
    const account = { channelIdentifier: known.channelIdentifier };
    if (
      !(await this.#store.transition(
        attempt.id,
        'ORPHAN_SUSPECTED',
        'EXCHANGE_SENT',
        { errorCode: REPAIR_MARKER },
        this.#now(),
      ))
    ) {
      return 'pending';
    }
    const removed = await this.cleanOrphanKeys(known.channelIdentifier, project, attempt.id);
    this.#log({
      level: 'warn',
      msg: `orphan repair removed ${removed} unknown key(s)`,
      attemptId: attempt.id,
      sellerProject: project,
    });
    let rawBody: string;
    let status: number;
    try {
      const r = await this.#noon.apiUsers.createCredentialRequest(account);
      rawBody = r.rawBody;
      status = r.response.status;
    } catch (e) {
      await this.#store.transition(
        attempt.id,
        'EXCHANGE_SENT',
        'ORPHAN_SUSPECTED',
        { errorCode: errorCode(e) },
        this.#now(),
      );
      return 'pending';
    }
    if (status !== 200) {
      await this.#store.transition(
        attempt.id,
        'EXCHANGE_SENT',
        'ORPHAN_SUSPECTED',
        { errorCode: `HTTP_${status}` },
        this.#now(),
      );
      return 'pending';
    }
    const sealed = await this.#vault.seal(
      rawBody,
      this.#ctx(attempt.tenant, project, attempt.id, 'exchange-body'),
    );
    if (!(await this.#store.storeExchangeBody(attempt.id, sealed, this.#now()))) return 'pending';
    const out = await this.#finishKeyStored({
      ...attempt,
      status: 'KEY_STORED',
      errorCode: REPAIR_MARKER,
      rawExchangeSealed: sealed,
    });
    await this.#store.releaseExchangeSlot(attempt.tenant, project, attempt.id).catch(() => {});
    return out.kind === 'connected' ? 'repaired' : 'pending';
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
    const ours = new Set(
      (await this.#store.listCredentials({ channelIdentifier, states: ['active', 'retiring'] })).map(
        (c) => c.keyId,
      ),
    );
    const project =
      sellerProject ?? (await this.#store.listCredentials({ channelIdentifier }))[0]?.sellerProject;
    if (project) {
      const inFlight = (
        await this.#store.listAttempts({
          statuses: ['EXCHANGE_SENT', 'KEY_STORED'],
          sellerProject: project,
          limit: 10,
        })
      ).filter((a) => a.id !== exceptAttemptId);
      if (inFlight.length > 0) {
        this.#log({
          level: 'warn',
          msg: 'orphan cleanup postponed: another key for this seller is being stored',
          sellerProject: project,
        });
        return 0;
      }
      for (const a of await this.#store.listAttempts({
        statuses: ['NEEDS_ATTENTION'],
        sellerProject: project,
        limit: 1000,
      })) {
        if (!a.rawExchangeSealed) continue;
        for (const id of await this.#keyIdsIn(a)) ours.add(id);
      }
    }
    const upstream = await this.#noon.apiUsers.listCredentials({ channelIdentifier });
    let removed = 0;
    for (const k of upstream) {
      if (!k.active || ours.has(k.keyId)) continue;
      await this.#noon.apiUsers.removeCredential({ channelIdentifier, keyId: k.keyId });
      removed++;
    }
    return removed;
  }

  /** Key ids named in an attempt's stored raw answer (exchange or credentials/create), read without validating. */
  async #keyIdsIn(a: Attempt): Promise<string[]> {
    try {
      const raw = await this.#vault.open(
        a.rawExchangeSealed!,
        this.#ctx(a.tenant, a.sellerProject!, a.id, 'exchange-body'),
      );
      const v = JSON.parse(raw.toString('utf8')) as { key_id?: unknown; result?: { key_id?: unknown } };
      return [v?.key_id, v?.result?.key_id].filter((x): x is string => typeof x === 'string');
    } catch {
      return [];
    }
  }

  /**
   * Removes a retiring credential's key upstream, then marks it removed; true when this call did the marking
   * (a concurrent reconciler may have done so first).
   */
  async #retire(c: Credential): Promise<boolean> {
    try {
      await this.#noon.apiUsers.removeCredential({ channelIdentifier: c.channelIdentifier, keyId: c.keyId });
    } catch (e) {
      // Already gone upstream counts as removed; anything else waits for the reconciler.
      if (!(e instanceof NoonError && (e.code === 'NOT_FOUND' || e.reason === 'KEY_NOT_FOUND'))) throw e;
    }
    this.#sessions.delete(c.id);
    return this.#store.markCredentialRemoved(c.id, this.#now());
  }

  // --- reconciler ----------------------------------------------------------------------------------

  /**
   * Drives stuck attempts to an end. Every move is a compare-and-set in the store, so two reconcilers (in one
   * process or in several instances) never do the same step twice.
   */
  async reconcile(): Promise<ReconcileReport> {
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
    const now = this.#now();
    const t = this.#thresholds;
    // Expired links fail in one statement, however many there are; the steps below read each stuck status on
    // its own, oldest first and already past its threshold, so a flood of fresh links cannot hide an attempt
    // whose key may be burning a slot upstream.
    report.failed += await this.#store.expireStarted(now);
    const stuck: Attempt[] = [];
    for (const [status, idle] of [
      ['ORPHAN_SUSPECTED', 0],
      ['EXCHANGE_SENT', t.EXCHANGE_SENT],
      ['KEY_STORED', t.KEY_STORED],
      ['TOKEN_ISSUED', t.TOKEN_ISSUED],
      ['CLAIMED', t.CLAIMED],
    ] as const) {
      stuck.push(
        ...(await this.#store.listAttempts({
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
        switch (a.status) {
          case 'STARTED':
            if (
              now >= a.expiresAt &&
              (await this.#store.transition(a.id, 'STARTED', 'FAILED', { errorCode: 'STATE_EXPIRED' }, now))
            )
              report.failed++;
            break;
          case 'CLAIMED':
            // P2b: interrupted between claim and TOKEN_ISSUED; an access token may have been issued and is lost
            // with the process: it expires unused, nothing was created.
            if (now - a.updatedAt >= t.CLAIMED && (await this.#fail(a, 'CLAIMED', 'INTERRUPTED')))
              report.failed++;
            break;
          case 'TOKEN_ISSUED': {
            if (now - a.updatedAt < t.TOKEN_ISSUED) break;
            if (
              a.tokenExpiresAt === null ||
              now >= a.tokenExpiresAt - TOKEN_MARGIN_MS ||
              !a.accessTokenSealed
            ) {
              if (await this.#fail(a, 'TOKEN_ISSUED', 'TOKEN_EXPIRED')) report.failed++;
              break;
            }
            // P2a: resume the exchange with the stored token.
            const token = (
              await this.#vault.open(
                a.accessTokenSealed,
                this.#ctx(a.tenant, a.sellerProject!, a.id, 'access-token'),
              )
            ).toString('utf8');
            const out = await this.#fromTokenIssued(a, token);
            if (out.kind !== 'pending') report.resumed++;
            if (out.kind === 'connected') report.connected++;
            break;
          }
          case 'EXCHANGE_SENT':
            // P3: the process died with the exchange in flight: the key may exist upstream.
            if (now - a.updatedAt >= t.EXCHANGE_SENT) {
              const code = a.errorCode === REPAIR_MARKER ? REPAIR_MARKER : 'INTERRUPTED';
              // Another reconciler may have taken it since this pass read it: then it is theirs.
              const r = await this.#flagOrphan(a, code, a.updatedAt);
              if (r === false) break;
              // Counted by what this reconciler did, not by the status it reads after (another may have done it).
              report.orphans++;
              if (r === 'repaired') report.repaired++;
              if (r === 'needs-reconnect') report.needsReconnect++;
            }
            break;
          case 'KEY_STORED':
            if (now - a.updatedAt >= t.KEY_STORED) {
              const out = await this.#finishKeyStored(a);
              if (out.kind === 'connected') report.connected++;
            }
            break;
          case 'ORPHAN_SUSPECTED': {
            const r = await this.#repair(a);
            if (r === 'repaired') report.repaired++;
            if (r === 'needs-reconnect') report.needsReconnect++;
            break;
          }
          default:
            break;
        }
      } catch (e) {
        this.#log({
          level: 'warn',
          msg: 'reconcile step failed; will retry',
          attemptId: a.id,
          status: a.status,
          code: errorCode(e),
        });
      }
    }
    // P7: keys left retiring by an interrupted rotation or reconnect are removed upstream.
    for (const c of await this.#store.listCredentials({ states: ['retiring'] })) {
      if (now - c.createdAt < t.retiring) continue;
      const conn = await this.#store.getConnection(c.connectionId);
      if (conn?.status === 'active' && conn.credentialId === c.id) continue;
      try {
        if (await this.#retire(c)) report.retiredKeys++;
      } catch (e) {
        this.#log({
          level: 'warn',
          msg: 'could not remove a retiring key; will retry',
          connectionId: c.connectionId,
          code: errorCode(e),
        });
      }
    }
    return report;
  }

  // --- connections ---------------------------------------------------------------------------------

  async listConnections(
    q: { tenant?: string; status?: Connection['status'] } = {},
  ): Promise<ConnectionView[]> {
    return (await this.#store.listConnections(q)).map(viewOf);
  }

  async getConnection(id: string, tenant?: string): Promise<ConnectionView | undefined> {
    const c = await this.#store.getConnection(id);
    if (!c || (tenant !== undefined && c.tenant !== tenant)) return undefined;
    return viewOf(c);
  }

  async #activeConnection(id: string, tenant?: string): Promise<{ conn: Connection; cred: Credential }> {
    const conn = await this.#store.getConnection(id);
    if (!conn || (tenant !== undefined && conn.tenant !== tenant))
      throw new ConnectError('CONNECTION_NOT_FOUND', 'no such connection');
    if (conn.status !== 'active' || !conn.credentialId)
      throw new ConnectError('CONNECTION_INACTIVE', 'the connection is not active');
    const cred = await this.#store.getCredential(conn.credentialId);
    if (cred?.state !== 'active')
      throw new ConnectError('CONNECTION_INACTIVE', 'the connection has no active key');
    return { conn, cred };
  }

  /** A logged-in session as the seller; the key is decrypted and imported once and cached (LRU). */
  async sellerSession(tenant: string, sellerProject: string): Promise<NoonSession> {
    const conn = await this.#store.findConnection(tenant, sellerProject);
    if (!conn) throw new ConnectError('CONNECTION_NOT_FOUND', 'no connection for this seller project');
    const { cred } = await this.#activeConnection(conn.id, tenant);
    return this.#sessionFor(cred);
  }

  async #sessionFor(cred: Credential): Promise<NoonSession> {
    const cached = this.#sessions.get(cred.id);
    if (cached) return cached;
    const plain = await this.#vault.open(
      cred.sealed,
      this.#ctx(cred.tenant, cred.sellerProject, cred.id, 'seller-key-file'),
    );
    const session = new NoonSession(this.#noon.client, parseCredentials(plain.toString('utf8')), {
      projectCode: cred.sellerProject,
    });
    this.#sessions.set(cred.id, session);
    return session;
  }

  /** Seller login + whoami with the connection's key; the result is recorded on the connection. */
  async healthCheck(connectionId: string, tenant?: string): Promise<HealthResult> {
    const { conn, cred } = await this.#activeConnection(connectionId, tenant);
    const checkedAt = this.#now();
    let result: HealthResult;
    try {
      // A fresh login every time: a cached session can outlive its key (a key removed upstream need not end
      // live sessions), so whoami alone would report a dead key as healthy.
      const session = await this.#sessionFor(cred);
      await session.login();
      const who = await session.whoami();
      const ok = who.projectCode === conn.sellerProject;
      result = {
        ok,
        checkedAt,
        detail: ok ? 'login and whoami succeeded' : 'whoami names another project',
        whoami: who,
      };
    } catch (e) {
      result = { ok: false, checkedAt, detail: `login or whoami failed: ${errorCode(e)}` };
    }
    await this.#store.updateConnection(
      conn.id,
      { lastHealthAt: checkedAt, lastHealthOk: result.ok, lastHealthDetail: result.detail },
      checkedAt,
    );
    return result;
  }

  /**
   * Rotates the connection's key, make-before-break: checks a free slot, creates and stores the new key, switches
   * to it, then removes the old one. A crash leaves two valid keys, never none.
   */
  async rotate(connectionId: string, tenant?: string): Promise<ConnectionView> {
    const { conn, cred } = await this.#activeConnection(connectionId, tenant);
    const account = { channelIdentifier: cred.channelIdentifier };
    let active = (await this.#noon.apiUsers.listCredentials(account)).filter((k) => k.active).length;
    if (active >= MAX_KEYS) {
      await this.cleanOrphanKeys(cred.channelIdentifier, cred.sellerProject);
      active = (await this.#noon.apiUsers.listCredentials(account)).filter((k) => k.active).length;
      if (active >= MAX_KEYS)
        throw new ConnectError('KEY_LIMIT', "the seller's service account has no free key slot (5 in use)");
    }
    const now = this.#now();
    const attemptId = this.#uuid();
    await this.#store.createAttempt({
      id: attemptId,
      kind: 'rotate',
      status: 'EXCHANGE_SENT',
      tenant: conn.tenant,
      sellerProject: conn.sellerProject,
      connectionId: conn.id,
      stateHash: sha256Hex(`rotate:${attemptId}`),
      environment: this.#o.environment,
      returnTo: '/',
      createdAt: now,
      expiresAt: now,
    });
    const attempt = (await this.#store.getAttempt(attemptId))!;
    let r: Awaited<ReturnType<NoonApiUsers['createCredentialRequest']>>;
    try {
      r = await this.#noon.apiUsers.createCredentialRequest(account);
    } catch (e) {
      const c = errorCode(e);
      if (c === 'OUTCOME_UNKNOWN' || c === 'TIMEOUT') await this.#orphan(attempt, c);
      else await this.#fail(attempt, 'EXCHANGE_SENT', c);
      throw new ConnectError('UNAVAILABLE', `rotation failed: ${c}`, { cause: e });
    }
    if (r.response.status !== 200) {
      let c = `HTTP_${r.response.status}`;
      try {
        processCreateCredentialBody(r.rawBody, r.response.status);
      } catch (e) {
        c = errorCode(e);
      }
      await this.#fail(attempt, 'EXCHANGE_SENT', c);
      throw new ConnectError(c === 'KEY_LIMIT' ? 'KEY_LIMIT' : 'UNAVAILABLE', `rotation failed: ${c}`);
    }
    const sealed = await this.#vault.seal(
      r.rawBody,
      this.#ctx(conn.tenant, conn.sellerProject, attemptId, 'exchange-body'),
    );
    if (!(await this.#store.storeExchangeBody(attemptId, sealed, this.#now())))
      throw new ConnectError('UNAVAILABLE', 'rotation interrupted');
    const out = await this.#finishKeyStored({ ...attempt, status: 'KEY_STORED', rawExchangeSealed: sealed });
    if (out.kind !== 'connected')
      throw new ConnectError('UNAVAILABLE', 'the new key failed validation; see the attempt');
    return viewOf((await this.#store.getConnection(conn.id))!);
  }

  /** Removes the connection's keys upstream, then marks it disconnected. */
  async disconnect(connectionId: string, tenant?: string): Promise<ConnectionView> {
    const conn = await this.#store.getConnection(connectionId);
    if (!conn || (tenant !== undefined && conn.tenant !== tenant))
      throw new ConnectError('CONNECTION_NOT_FOUND', 'no such connection');
    // First, atomically: disconnected, and every active key marked for removal. A reconnect that commits after
    // this starts a new active key, which this call does not touch; a crash before the removals below leaves
    // retiring keys that the reconciler removes.
    const event = this.#event('disconnected', {
      tenant: conn.tenant,
      seller_project: conn.sellerProject,
      connection_id: conn.id,
      key_id: conn.keyId,
    });
    const toRemove = await this.#store.disconnectConnection(connectionId, this.#now(), { events: [event] });
    this.#emitStored([event], toRemove !== undefined);
    // Already disconnected: nothing upstream, and no second event.
    if (toRemove === undefined) return viewOf((await this.#store.getConnection(connectionId))!);
    for (const c of toRemove) await this.#retire(c);
    return viewOf((await this.#store.getConnection(connectionId))!);
  }

  async getAttempt(id: string): Promise<Attempt | undefined> {
    return this.#store.getAttempt(id);
  }

  // --- helpers -------------------------------------------------------------------------------------

  #ctx(tenant: string, project: string, credentialId: string, purpose: string): SealContext {
    return { tenant, project, credentialId, purpose };
  }

  async #fail(
    a: Attempt,
    from: AttemptStatus,
    code: string,
    patch: Parameters<Store['transition']>[3] = {},
  ): Promise<boolean> {
    const event = this.#event('failed', {
      tenant: a.tenant,
      seller_project: a.sellerProject,
      attempt_id: a.id,
      error_code: code,
      oauth_request_id: (patch.oauthRequestId as string | null | undefined) ?? a.oauthRequestId,
    });
    const ok = await this.#store.transition(
      a.id,
      from,
      'FAILED',
      { errorCode: code, accessTokenSealed: null, ...patch },
      this.#now(),
      {
        events: [event],
      },
    );
    this.#emitStored([event], ok);
    return ok;
  }

  #event(type: EventType, data: EventPayload) {
    return newEvent(this.#uuid(), type, data, this.#now(), this.#o.webhooks?.endpoints ?? []);
  }

  /** In-process hooks run after, and only if, the commit that recorded these very events succeeded. */
  #emitStored(stored: readonly NewEvent[], committed: boolean): void {
    if (!committed || !this.#o.onEvent) return;
    for (const n of stored) {
      const e: ConnectEvent = {
        id: n.id,
        type: n.type as EventType,
        created_at: new Date(n.createdAt).toISOString(),
        data: JSON.parse(n.payload) as EventPayload,
      };
      try {
        this.#o.onEvent(e);
      } catch {
        // A failing hook must not break the flow; webhooks carry the durable copy.
      }
    }
  }

  async #hook(step: Step, a: { id: string; tenant: string }): Promise<void> {
    if (this.#o.stepHook) await this.#o.stepHook(step, { id: a.id, tenant: a.tenant });
  }

  #log(e: ConnectorLogEntry): void {
    this.#o.logger?.(e);
  }
}

function reqId(e: unknown): { requestId?: string } {
  return e instanceof NoonError && e.requestId ? { requestId: e.requestId } : {};
}

/** Builds a connector: checks options, loads (or creates, sealed in the store) the key that signs states. */
export async function createConnector(options: ConnectorOptions): Promise<Connector> {
  if (!options || typeof options !== 'object')
    throw new ConnectError('INVALID_ARGUMENT', 'createConnector needs options');
  for (const k of ['noon', 'store', 'vault'] as const) {
    if (!options[k]) throw new ConnectError('INVALID_ARGUMENT', `createConnector: ${k} is required`);
  }
  if (typeof options.environment !== 'string' || !/^[a-z0-9-]{1,32}$/.test(options.environment)) {
    throw new ConnectError('INVALID_ARGUMENT', 'environment must be 1-32 lowercase letters, digits or -');
  }
  let publicUrl: URL;
  try {
    publicUrl = new URL(options.publicUrl);
  } catch {
    throw new ConnectError('INVALID_ARGUMENT', 'publicUrl must be an absolute URL');
  }
  if (publicUrl.protocol !== 'https:' && publicUrl.protocol !== 'http:')
    throw new ConnectError('INVALID_ARGUMENT', 'publicUrl must be http or https');
  // Production (U12): the binding cookie and webhook payloads travel over these URLs; plain http is allowed only
  // on this machine.
  const production = options.environment === 'production';
  if (production && publicUrl.protocol === 'http:' && !isLoopbackHost(publicUrl.hostname))
    throw new ConnectError(
      'CONFIG',
      'publicUrl must use https in production (only a loopback address may use http)',
    );
  if (
    options.stateTtlMs !== undefined &&
    !(
      Number.isInteger(options.stateTtlMs) &&
      options.stateTtlMs > 0 &&
      options.stateTtlMs <= MAX_STATE_TTL_MS
    )
  ) {
    throw new ConnectError('INVALID_ARGUMENT', 'stateTtlMs must be a positive integer of at most 10 minutes');
  }
  for (const p of options.returnPaths ?? []) {
    if (typeof p !== 'string' || !p.startsWith('/') || p.startsWith('//'))
      throw new ConnectError('INVALID_ARGUMENT', 'returnPaths are absolute paths');
  }
  if (options.webhooks) {
    const { endpoints, secret } = options.webhooks;
    if (typeof secret !== 'string' || secret.length < 16)
      throw new ConnectError('INVALID_ARGUMENT', 'webhooks.secret must be at least 16 characters');
    for (const e of endpoints) {
      const u = new URL(e);
      if (u.protocol !== 'https:' && u.protocol !== 'http:')
        throw new ConnectError('INVALID_ARGUMENT', 'webhook endpoints must be http(s) URLs');
      if (production && u.protocol === 'http:' && !isLoopbackHost(u.hostname))
        throw new ConnectError(
          'CONFIG',
          'webhook endpoints must use https in production (only a loopback address may use http)',
        );
    }
  }
  // The state key lives in the store, sealed by the vault: every instance shares it, a database copy alone
  // cannot forge states.
  const ctx: SealContext = { tenant: '-', project: '-', credentialId: 'state-key', purpose: 'state-mac-key' };
  let sealed = await options.store.getMeta('connect.state-key');
  if (!sealed) {
    const fresh = await options.vault.seal((options.randomBytes ?? randomBytes)(32), ctx);
    sealed = await options.store.setMetaIfAbsent('connect.state-key', fresh);
  }
  const key = await options.vault.open(sealed, ctx);
  return new Connector(options, key);
}
