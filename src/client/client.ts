// NoonClient: the shared, validated configuration (environment, User-Agent, transport, clock, randomness,
// sleep, logger) and the one place a request is sent: per-attempt deadline, safe retries, no redirects.

import { randomBytes, randomUUID } from 'node:crypto';
import { DEFAULT_MAX_BODY_BYTES, retryAfterSeconds, tooLarge } from './checks.js';
import { type NoonEnvironment, type ResolvedEnvironment, resolveEnvironment } from './environment.js';
import { NoonError, NoonTypeError } from './errors.js';
import {
  BodyTooLarge,
  type FetchLike,
  FetchWire,
  failedBeforeSending,
  NotSent,
  PoolWire,
  type Wire,
  type WireResponse,
} from './transport.js';

/** The time source of the client (injectable in tests). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The randomness of the client: JWT ids and retry jitter (injectable in tests). */
export interface Randomness {
  /** A fresh UUID v4. */
  uuid(): string;
  /** A number in [0, 1), for back-off jitter. */
  fraction(): number;
}

/** Waits `ms` milliseconds, or rejects when `signal` aborts (the client's back-off; injectable in tests). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** One structured log line. It names endpoints, statuses and request ids: never a body, cookie or token. */
export interface NoonLogEntry {
  level: 'debug' | 'info' | 'warn';
  event: 'response' | 'retry' | 'login' | 'relogin' | 'failure';
  endpoint: string;
  method?: string;
  path?: string;
  status?: number;
  requestId?: string;
  attempt?: number;
  durationMs?: number;
  waitMs?: number;
  /** Why a retry or re-login happened: 'connect', 'reset', 'rate-limited', 'session', 'renew'. */
  why?: string;
  code?: string;
  reason?: string;
  projectCode?: string;
}

/** Receives the client's structured log lines (see {@link NoonLogEntry}); never secret values. */
export type NoonLogger = (entry: NoonLogEntry) => void;

/** How often the client retries a call whose outcome allows it; the rest is decided per call. */
export interface RetryOptions {
  /** Retries after a failure to connect (refused, DNS), before anything was sent. Default 3. */
  connectRetries?: number;
  /** First back-off delay; doubles per retry, with jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** Largest back-off delay. Default 5 s. */
  maxDelayMs?: number;
  /** Retries after 429/503 with Retry-After. Default 2. */
  rateLimitRetries?: number;
  /** Longest Retry-After honoured; a longer one fails at once with the wait in `retryAfter`. Default 30 s. */
  maxRetryAfterMs?: number;
  /** Resends after a broken connection, only for calls safe to repeat (login, GETs). Default 1. */
  resetRetries?: number;
}

/** Options of {@link NoonClient}: copied, checked and frozen when the client is built. */
export interface NoonClientOptions {
  environment: NoonEnvironment;
  /** Sent on every request; Noon requires it (NC7). Name your product and a contact, e.g. `acme/1.2 (+https://acme.example)`. */
  userAgent: string;
  /** Use this fetch-compatible function instead of the built-in undici pool. */
  fetch?: FetchLike;
  /** Keep-alive connections in the built-in pool. Default 16. */
  connections?: number;
  /** Deadline of each attempt, body included. Default 15 s. */
  timeoutMs?: number;
  /** Largest response body read. Default 1 MB. */
  maxBodyBytes?: number;
  retry?: RetryOptions;
  clock?: Clock;
  random?: Randomness;
  sleep?: Sleep;
  logger?: NoonLogger;
  /** How long a session lasts at Noon (NC4). Default 30 days. */
  sessionLifetimeMs?: number;
  /** Log in again this long before the session would end. Default 1 day. */
  sessionRenewBeforeMs?: number;
}

/** What a call looks like to the sender. */
export interface SendSpec {
  /** Short name of the call for errors and logs, e.g. `token.create`. */
  endpoint: string;
  method: string;
  /** Path under the gateway, starting with `/`. */
  path: string;
  /** Encoded query without the `?`. */
  query?: string | undefined;
  /**
   * JSON text, or a function making it per attempt (login signs a fresh JWT for each; with a key in an HSM the
   * signature, and so the body, comes asynchronously).
   */
  body?: string | (() => string | Promise<string>) | undefined;
  /**
   * Whether the call may be sent again when an attempt's outcome is unknown (reset after sending). False for
   * anything that spends or creates something upstream (token/create, exchange, key create).
   */
  repeatable: boolean;
  signal?: AbortSignal | undefined;
}

export interface Sent extends WireResponse {
  requestId: string | undefined;
  retryAfter: number | undefined;
  attempts: number;
}

export const kSend: unique symbol = Symbol('noon-connect.send');

const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

const cryptoRandom: Randomness = {
  uuid: () => randomUUID(),
  fraction: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
};

function intOption(v: unknown, name: string, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new NoonTypeError('INVALID_ARGUMENT', `${name} must be an integer ≥ ${min}`);
  return v;
}

function fnOption<T>(v: unknown, name: string, fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'function') throw new NoonTypeError('INVALID_ARGUMENT', `${name} must be a function`);
  return v as T;
}

type FailureKind = 'connect' | 'network' | 'timeout' | 'aborted' | 'too-large' | 'tls' | 'queued';

class AttemptFailed {
  constructor(
    readonly kind: FailureKind,
    readonly detail?: string,
  ) {}
}

/** Certificate errors: the handshake refused the gateway, so nothing was sent and retrying cannot help. */
const TLS_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function tlsCertCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 6; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CERT_CODES.has(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

const DAY_MS = 24 * 3600_000;

/**
 * Shared configuration and transport for every session, OAuth and API User Service call: where Noon is, the
 * `User-Agent` Noon requires, a keep-alive pool, deadlines and retry rules. Make one per process and share it;
 * `close()` it on shutdown. (`NoonClient`, `NoonSession` and `loadCredentials` come from `noon-connect/client`.)
 *
 * @example
 * ```ts
 * const noon = new NoonClient({
 *   environment: 'production', // or { local: 'http://127.0.0.1:8788' } for the sandbox
 *   userAgent: 'acme-connect/1.0 (+https://acme.example)',
 * });
 * const integrator = new NoonSession(noon, await loadCredentials('./integrator-key.json'));
 * const me = await integrator.whoami(); // logs in on first use
 * await noon.close();
 * ```
 */
export class NoonClient {
  readonly environment: ResolvedEnvironment;
  readonly userAgent: string;
  readonly clock: Clock;
  readonly random: Randomness;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly sessionLifetimeMs: number;
  readonly sessionRenewBeforeMs: number;
  readonly #retry: Required<RetryOptions>;
  readonly #sleep: Sleep;
  readonly #logger: NoonLogger | undefined;
  readonly #wire: Wire;
  readonly #headers: Record<string, string>;
  readonly #jsonHeaders: Record<string, string>;
  readonly #cookieHeaders = new Map<string, Record<string, string>>();
  readonly #jsonCookieHeaders = new Map<string, Record<string, string>>();

  constructor(options: NoonClientOptions) {
    if (!options || typeof options !== 'object')
      throw new NoonTypeError('INVALID_ARGUMENT', 'NoonClient needs an options object');
    // NC7: Noon rejects requests without a User-Agent; make the caller name itself rather than send a default.
    const ua = options.userAgent;
    if (typeof ua !== 'string' || ua.trim() === '')
      throw new NoonTypeError(
        'USER_AGENT_REQUIRED',
        'userAgent is required: Noon rejects requests without one',
      );
    if (/[\r\n\0]/.test(ua) || ua.length > 512)
      throw new NoonTypeError('INVALID_ARGUMENT', 'userAgent must be one line of at most 512 characters');
    this.environment = resolveEnvironment(options.environment);
    this.userAgent = ua;
    this.timeoutMs = intOption(options.timeoutMs, 'timeoutMs', 1, 15_000);
    this.maxBodyBytes = intOption(options.maxBodyBytes, 'maxBodyBytes', 1, DEFAULT_MAX_BODY_BYTES);
    this.sessionLifetimeMs = intOption(options.sessionLifetimeMs, 'sessionLifetimeMs', 1, 30 * DAY_MS);
    this.sessionRenewBeforeMs = intOption(options.sessionRenewBeforeMs, 'sessionRenewBeforeMs', 0, DAY_MS);
    const r = options.retry ?? {};
    this.#retry = {
      connectRetries: intOption(r.connectRetries, 'retry.connectRetries', 0, 3),
      baseDelayMs: intOption(r.baseDelayMs, 'retry.baseDelayMs', 0, 200),
      maxDelayMs: intOption(r.maxDelayMs, 'retry.maxDelayMs', 0, 5_000),
      rateLimitRetries: intOption(r.rateLimitRetries, 'retry.rateLimitRetries', 0, 2),
      maxRetryAfterMs: intOption(r.maxRetryAfterMs, 'retry.maxRetryAfterMs', 0, 30_000),
      resetRetries: intOption(r.resetRetries, 'retry.resetRetries', 0, 1),
    };
    if (options.clock !== undefined && typeof options.clock?.now !== 'function')
      throw new NoonTypeError('INVALID_ARGUMENT', 'clock must have now()');
    this.clock = options.clock ?? Date;
    if (
      options.random !== undefined &&
      (typeof options.random?.uuid !== 'function' || typeof options.random?.fraction !== 'function')
    )
      throw new NoonTypeError('INVALID_ARGUMENT', 'random must have uuid() and fraction()');
    this.random = options.random ?? cryptoRandom;
    this.#sleep = fnOption(options.sleep, 'sleep', realSleep);
    this.#logger = fnOption<NoonLogger | undefined>(options.logger, 'logger', undefined);
    const connections = intOption(options.connections, 'connections', 1, 16);
    const fetchFn = fnOption<FetchLike | undefined>(options.fetch, 'fetch', undefined);
    this.#wire = fetchFn
      ? new FetchWire(this.environment.gatewayOrigin, fetchFn)
      : new PoolWire(this.environment.gatewayOrigin, connections);
    this.#headers = Object.freeze({ 'user-agent': ua, accept: 'application/json' });
    this.#jsonHeaders = Object.freeze({ ...this.#headers, 'content-type': 'application/json' });
    Object.freeze(this);
  }

  /** Open and busy connections of the built-in pool (undefined with an injected fetch). */
  transportStats(): { connected: number; running: number; pending: number } | undefined {
    return this.#wire.stats();
  }

  /** Closes the pool's connections once requests in flight have ended. */
  close(): Promise<void> {
    return this.#wire.close();
  }

  /** Hands an entry to the configured logger (sessions log logins and re-logins through it). */
  log(entry: NoonLogEntry): void {
    if (!this.#logger) return;
    try {
      this.#logger(entry);
    } catch {
      // A failing logger must not turn a good call into a failed one.
    }
  }

  /**
   * Sends one call, with a deadline per attempt and only the retries that are safe (docs/client.md, Transport):
   * connect failures with jittered back-off; 429/503 with a Retry-After within the cap; a broken connection only
   * when the call is repeatable. Returns the final response whatever its status; errors are the caller's to map.
   */
  async [kSend](spec: SendSpec, cookie?: string): Promise<Sent> {
    const retry = this.#retry;
    const path = `${this.environment.gatewayPath}${spec.path}${spec.query ? `?${spec.query}` : ''}`;
    let attempts = 0;
    let connectFailures = 0;
    let resets = 0;
    let waits = 0;
    for (;;) {
      attempts++;
      const made = typeof spec.body === 'function' ? spec.body() : spec.body;
      const body = typeof made === 'string' || made === undefined ? made : await made;
      const started = this.#logger ? performance.now() : 0;
      const headers = this.#headersFor(body !== undefined, cookie);
      let res: WireResponse;
      try {
        res = await this.#attempt(spec.method, path, headers, body, spec.signal);
      } catch (e) {
        const kind = e instanceof AttemptFailed ? e.kind : 'network';
        const d = { endpoint: spec.endpoint, attempts };
        if (kind === 'too-large') throw tooLarge(spec.endpoint, this.maxBodyBytes);
        // The deadline passed while every connection was busy: nothing was written, but retrying would only queue
        // again behind the same calls, so the caller hears at once that nothing was sent.
        if (kind === 'queued')
          throw new NoonError(
            'NETWORK',
            `${spec.endpoint}: no connection to Noon was free within ${this.timeoutMs} ms; nothing was sent`,
            d,
          );
        if (kind === 'tls')
          throw new NoonError(
            'NETWORK',
            `${spec.endpoint}: the gateway's TLS certificate was refused (${(e as AttemptFailed).detail})`,
            d,
          );
        if (kind === 'aborted')
          throw new NoonError('ABORTED', `${spec.endpoint} was aborted by the caller`, d);
        if (kind === 'connect' && connectFailures < retry.connectRetries) {
          connectFailures++;
          const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (connectFailures - 1));
          // Equal jitter: half the cap plus a random half, so clients that failed together spread out.
          const waitMs = Math.round(cap / 2 + (this.random.fraction() * cap) / 2);
          this.log({
            level: 'warn',
            event: 'retry',
            endpoint: spec.endpoint,
            why: 'connect',
            attempt: attempts,
            waitMs,
          });
          await this.#wait(waitMs, spec);
          continue;
        }
        if (kind === 'connect')
          throw new NoonError('NETWORK', `${spec.endpoint} could not connect after ${attempts} attempts`, d);
        if (kind === 'network' && spec.repeatable && resets < retry.resetRetries) {
          resets++;
          this.log({
            level: 'warn',
            event: 'retry',
            endpoint: spec.endpoint,
            why: 'reset',
            attempt: attempts,
          });
          continue;
        }
        const what =
          kind === 'timeout' ? `got no complete answer within ${this.timeoutMs} ms` : 'lost its connection';
        if (!spec.repeatable)
          throw new NoonError(
            'OUTCOME_UNKNOWN',
            `${spec.endpoint} ${what} after the request was sent: it may have taken effect upstream`,
            d,
          );
        throw new NoonError(kind === 'timeout' ? 'TIMEOUT' : 'NETWORK', `${spec.endpoint} ${what}`, d);
      }
      const requestId = res.header('x-request-id');
      const status = res.status;
      const retryAfter =
        status === 429 || status === 503
          ? retryAfterSeconds((name) => res.header(name), this.clock.now())
          : undefined;
      if (this.#logger)
        this.log({
          level: 'debug',
          event: 'response',
          endpoint: spec.endpoint,
          method: spec.method,
          path: spec.path,
          status,
          ...(requestId !== undefined ? { requestId } : {}),
          attempt: attempts,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        });
      if (
        retryAfter !== undefined &&
        retryAfter * 1000 <= retry.maxRetryAfterMs &&
        waits < retry.rateLimitRetries
      ) {
        waits++;
        const waitMs = retryAfter * 1000;
        this.log({
          level: 'warn',
          event: 'retry',
          endpoint: spec.endpoint,
          why: 'rate-limited',
          status,
          attempt: attempts,
          waitMs,
          ...(requestId !== undefined ? { requestId } : {}),
        });
        await this.#wait(waitMs, spec);
        continue;
      }
      return Object.assign(res, { requestId, retryAfter, attempts });
    }
  }

  /** Request headers; the common shapes are built once per session cookie, not per request. */
  #headersFor(json: boolean, cookie: string | undefined): Record<string, string> {
    if (cookie === undefined) return json ? this.#jsonHeaders : this.#headers;
    const cache = json ? this.#jsonCookieHeaders : this.#cookieHeaders;
    let h = cache.get(cookie);
    if (!h) {
      // Bounded: one entry per live session; old sessions' entries go when it fills.
      if (cache.size >= 256) cache.clear();
      h = Object.freeze({ ...(json ? this.#jsonHeaders : this.#headers), cookie });
      cache.set(cookie, h);
    }
    return h;
  }

  async #wait(ms: number, spec: SendSpec): Promise<void> {
    try {
      await this.#sleep(ms, spec.signal);
    } catch {
      throw new NoonError('ABORTED', `${spec.endpoint} was aborted by the caller`, {
        endpoint: spec.endpoint,
      });
    }
  }

  async #attempt(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<WireResponse> {
    if (signal?.aborted) throw new AttemptFailed('aborted');
    const canceller = this.#wire.canceller();
    let timedOut = false;
    // One deadline for the whole attempt, body included, so a trickling answer cannot hold it open; cancelling
    // tears the connection down.
    const timer = setTimeout(() => {
      timedOut = true;
      canceller.cancel();
    }, this.timeoutMs);
    const onAbort = signal ? () => canceller.cancel() : undefined;
    if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#wire.send({
        method,
        path,
        headers,
        body,
        signal: canceller.signal,
        limit: this.maxBodyBytes,
      });
    } catch (e) {
      if (e instanceof BodyTooLarge) throw new AttemptFailed('too-large');
      // Still queued for a connection when the deadline fired: nothing was written, so it is safe to retry.
      if (e instanceof NotSent) throw new AttemptFailed(signal?.aborted ? 'aborted' : 'queued');
      if (timedOut) throw new AttemptFailed('timeout');
      if (signal?.aborted) throw new AttemptFailed('aborted');
      const tls = tlsCertCode(e);
      if (tls) throw new AttemptFailed('tls', tls);
      throw new AttemptFailed(failedBeforeSending(e) ? 'connect' : 'network');
    } finally {
      clearTimeout(timer);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
  }
}

/** A Web Response over a received answer, for request steps (the body is already read, within the deadline). */
export function responseOf(sent: Sent): Response {
  checkedStatus(sent);
  const headers = new Headers();
  for (const [k, v] of sent.headerEntries()) headers.append(k, v);
  const nullBody = sent.status === 204 || sent.status === 205 || sent.status === 304;
  return new Response(nullBody ? null : new Uint8Array(sent.body), { status: sent.status, headers });
}

/** The answer's HTTP status; RESPONSE_INVALID for one outside 200–599 (what a Web Response cannot hold). */
export function checkedStatus(sent: Sent): number {
  if (sent.status < 200 || sent.status > 599)
    throw new NoonError('RESPONSE_INVALID', `unexpected HTTP status ${sent.status}`, { status: sent.status });
  return sent.status;
}
