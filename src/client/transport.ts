// The wire under the client: a keep-alive undici Pool by default (several times the throughput of global fetch
// on these machines), or any fetch-compatible function (tests, other runtimes). Either way redirects are never
// followed, the body is read under a byte limit, and the caller's AbortSignal ends the request and its socket.

import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';

/** A fetch-compatible function; it is always called with `redirect: 'manual'`. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface WireRequest {
  method: string;
  /** Path and query under the origin, starting with `/`. */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** From this wire's canceller(). */
  signal: AbortSignal | EventEmitter;
  /** Largest body read; past it the request is torn down and BodyTooLarge thrown. */
  limit: number;
}

export interface WireResponse {
  status: number;
  header(name: string): string | undefined;
  setCookies(): string[];
  headerEntries(): [string, string][];
  body: Buffer;
}

/** Ends one request (and tears down its connection) when cancelled. */
export interface Canceller {
  readonly signal: AbortSignal | EventEmitter;
  cancel(): void;
}

export interface Wire {
  send(req: WireRequest): Promise<WireResponse>;
  canceller(): Canceller;
  close(): Promise<void>;
  /** Open and busy connections, when the wire knows them. */
  stats(): { connected: number; running: number; pending: number } | undefined;
}

/** The body passed the limit; reading stopped there. */
export class BodyTooLarge extends Error {}

/** The request was cancelled while still waiting for a connection: nothing was written to the wire. */
export class NotSent extends Error {}

const kDispatch = Symbol('noon-connect.dispatch');

interface DispatchMark {
  /** Set when undici starts writing the request to a socket (and it was not cancelled before). */
  sent: boolean;
  cancelled: () => boolean;
}

type LegacyHandler = Record<string, ((...args: unknown[]) => unknown) | undefined>;

/**
 * An undici interceptor that records when a request leaves the pool's queue for a socket (`onConnect`), so a
 * deadline that fires while it still waits for a connection is known not to have sent anything.
 */
function markDispatch(dispatch: (opts: object, handler: object) => boolean) {
  return (opts: object, handler: object): boolean => {
    const mark = (opts as { [kDispatch]?: DispatchMark })[kDispatch];
    if (!mark) return dispatch(opts, handler);
    const h = handler as LegacyHandler;
    const forward =
      (name: string) =>
      (...args: unknown[]) =>
        h[name]?.(...args);
    return dispatch(opts, {
      onConnect(...args: unknown[]) {
        if (!mark.cancelled()) mark.sent = true;
        return h.onConnect?.(...args);
      },
      onResponseStarted: forward('onResponseStarted'),
      onHeaders: forward('onHeaders'),
      onData: forward('onData'),
      onUpgrade: forward('onUpgrade'),
      onComplete: forward('onComplete'),
      onError: forward('onError'),
      onBodySent: forward('onBodySent'),
      onRequestSent: forward('onRequestSent'),
    });
  };
}

/** Failures that happen before a request is written: safe to retry any call. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether an error from the wire happened before the request was written (connection refused, DNS). Anything
 * else may have reached Noon. Error codes sit on the error, its `cause` (fetch) or, for dual-stack connection
 * attempts, on the errors of an AggregateError.
 */
export function failedBeforeSending(err: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 4) return false;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_CODES.has(code)) return true;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => visit(x, depth + 1))) return true;
    return visit((e as { cause?: unknown }).cause, depth + 1);
  };
  return visit(err, 0);
}

function readLimited(body: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        body.destroy();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    body.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    body.on('error', reject);
  });
}

type UndiciHeaders = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * undici takes a plain EventEmitter as a request's signal; one per request costs far less than an
 * AbortController, and every request needs one for its deadline.
 */
class EmitterCanceller extends EventEmitter implements Canceller {
  aborted = false;

  get signal(): EventEmitter {
    return this;
  }

  cancel(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

class ControllerCanceller implements Canceller {
  readonly #controller = new AbortController();

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  cancel(): void {
    this.#controller.abort();
  }
}

/** An answer from the pool; methods on the prototype keep the per-request cost to one small object. */
class PoolResponse implements WireResponse {
  constructor(
    readonly status: number,
    readonly headers: UndiciHeaders,
    readonly body: Buffer,
  ) {}

  header(name: string): string | undefined {
    return first(this.headers[name]);
  }

  setCookies(): string[] {
    const v = this.headers['set-cookie'];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }

  headerEntries(): [string, string][] {
    const out: [string, string][] = [];
    for (const [k, v] of Object.entries(this.headers)) {
      if (Array.isArray(v)) for (const x of v) out.push([k, x]);
      else if (v !== undefined) out.push([k, v]);
    }
    return out;
  }
}

/** Keep-alive connections to one origin. */
export class PoolWire implements Wire {
  readonly #base: Pool;
  readonly #pool: Pick<Pool, 'request'>;

  constructor(origin: string, connections: number) {
    this.#base = new Pool(origin, { connections, pipelining: 1 });
    this.#pool = this.#base.compose(markDispatch as never) as unknown as Pick<Pool, 'request'>;
  }

  async send(req: WireRequest): Promise<WireResponse> {
    const signal = req.signal as EventEmitter & { aborted?: boolean };
    const mark: DispatchMark = { sent: false, cancelled: () => signal.aborted === true };
    // A request still queued for a connection when it is cancelled has sent nothing: say so at once rather
    // than when a connection frees up (undici only fails it then).
    let onAbort: (() => void) | undefined;
    const queuedOut = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (!mark.sent) reject(new NotSent());
      };
      signal.once('abort', onAbort);
    });
    queuedOut.catch(() => {});
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await Promise.race([
        this.#pool.request({
          method: req.method as 'GET',
          path: req.path,
          headers: req.headers,
          body: req.body ?? null,
          signal: req.signal,
          [kDispatch]: mark,
        } as Parameters<Pool['request']>[0]),
        queuedOut,
      ]);
    } finally {
      if (onAbort) signal.removeListener('abort', onAbort);
    }
    const headers = res.headers as UndiciHeaders;
    const declared = Number(first(headers['content-length']));
    if (declared > req.limit) {
      res.body.destroy();
      throw new BodyTooLarge();
    }
    return new PoolResponse(res.statusCode, headers, await readLimited(res.body, req.limit));
  }

  canceller(): Canceller {
    return new EmitterCanceller();
  }

  stats() {
    const s = this.#base.stats;
    return { connected: s.connected, running: s.running, pending: s.pending };
  }

  close(): Promise<void> {
    return this.#base.close();
  }
}

/** Splits a combined Set-Cookie value (for fetch implementations without getSetCookie). */
function splitSetCookie(v: string): string[] {
  return v.split(/,(?=\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=)/).map((s) => s.trim());
}

/** A Web Response body, read until `limit` bytes; past it the stream is cancelled and BodyTooLarge thrown. */
export async function readStreamLimited(res: Response, limit: number): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/** Requests through a fetch-compatible function. */
export class FetchWire implements Wire {
  readonly #origin: string;
  readonly #fetch: FetchLike;

  constructor(origin: string, fetchFn: FetchLike) {
    this.#origin = origin;
    this.#fetch = fetchFn;
  }

  async send(req: WireRequest): Promise<WireResponse> {
    const res = await this.#fetch(this.#origin + req.path, {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: req.signal as AbortSignal,
      // Never follow: a redirect would carry the session cookie or the client secret somewhere else.
      redirect: 'manual',
    });
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (declared > req.limit) {
      await res.body?.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    const body = await readStreamLimited(res, req.limit);
    // Browsers hide manual redirects behind an opaque response with status 0; report it as one.
    const status = res.type === 'opaqueredirect' || res.status === 0 ? 302 : res.status;
    return {
      status,
      header: (name) => res.headers.get(name) ?? undefined,
      setCookies: () => {
        if (typeof res.headers.getSetCookie === 'function') return res.headers.getSetCookie();
        const v = res.headers.get('set-cookie');
        return v ? splitSetCookie(v) : [];
      },
      headerEntries: () => {
        const out: [string, string][] = [];
        res.headers.forEach((v, k) => {
          out.push([k, v]);
        });
        return out;
      },
      body,
    };
  }

  canceller(): Canceller {
    return new ControllerCanceller();
  }

  stats() {
    return undefined;
  }

  async close(): Promise<void> {}
}
