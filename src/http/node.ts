// node:http adapter: IncomingMessage → Request, Response → ServerResponse.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { deferredPrototype } from './deferred.js';
import type { ConnectHandler } from './handler.js';
import { lightHeaders } from './light-headers.js';
import { lightParts } from './light-response.js';
import { badTargetResponse, isPlainTarget } from './target.js';

/** What the conversion reads of a node request (an http/1.1 `IncomingMessage` or an http2 request). */
export interface NodeRequestLike {
  rawHeaders: string[];
  method?: string | undefined;
  url?: string | undefined;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Largest request body a handler may read; past it the body stream errors. */
export const MAX_BODY = 64 * 1024;

/**
 * The request body as a stream that reads nothing until the handler asks for it. The callback never reads a
 * body (it refuses every method but GET), so an unread body is left for node to discard after the response
 * instead of being buffered first, and nothing is consumed that a framework's own body parser might want.
 * Past `limit` bytes the stream errors and the rest is discarded (not destroyed), so the handler's answer
 * still reaches the client.
 */
function lazyBody(req: NodeRequestLike, limit: number): ReadableStream<Uint8Array> {
  let stop: (() => void) | undefined;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        stop ??= listenBody(req, limit, {
          chunk(bytes) {
            controller.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
            if ((controller.desiredSize ?? 0) <= 0) req.pause();
          },
          end: () => controller.close(),
          fail: (e) => controller.error(e),
        });
        req.resume();
      },
      cancel() {
        stop?.();
        req.resume();
      },
    },
    // No read-ahead: `pull` runs only when the handler reads.
    { highWaterMark: 0 },
  );
}

interface LazyFields {
  method: string;
  url: string;
  /** The URL's path, kept from the conversion so routing need not parse the URL again. */
  pathname: string;
  /** The request target the URL was built from, as the client sent it (see {@link requestTargetOf}). */
  target: string;
  rawHeaders: readonly string[];
  headers: Headers | undefined;
  /** The node request whose body this request carries (none for GET and HEAD). */
  source: NodeRequestLike | undefined;
  /** The body was read straight from `source` (by `text()`): a real Request built later has a used body. */
  read: boolean;
  real: Request | undefined;
}

const FIELDS = Symbol('noon-connect.request-fields');
type LazyRequest = Request & { [FIELDS]: LazyFields };

function realOf(r: LazyRequest): Request {
  const f = r[FIELDS];
  if (!f.real) {
    if (f.read) {
      // The body went to `text()` already: the real Request's is read too, as it would be on a real one.
      f.real = new Request(f.url, { method: f.method, headers: fastHeaders(r), body: '' });
      f.real.arrayBuffer().catch(() => {});
    } else {
      // `duplex: 'half'` is what Fetch requires for a streamed request body.
      const init: RequestInit & { duplex?: 'half' } = f.source
        ? { method: f.method, headers: fastHeaders(r), body: lazyBody(f.source, MAX_BODY), duplex: 'half' }
        : { method: f.method, headers: fastHeaders(r) };
      f.real = new Request(f.url, init);
    }
  }
  return f.real;
}

const utf8 = new TextDecoder();

/**
 * The whole body of a node request as text (UTF-8, a leading BOM dropped, as Fetch's `text()` decodes), read
 * straight from the node stream; past `limit` bytes it rejects with a RangeError and the rest is discarded.
 */
function readText(req: NodeRequestLike, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    listenBody(req, limit, {
      chunk: (bytes) => chunks.push(bytes),
      end: () => resolve(utf8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))),
      fail: reject,
    });
    req.resume();
  });
}

/**
 * Listens to a node request's body: each chunk to `sink` until past `limit` bytes (then one RangeError and the
 * rest is discarded), then its end or its error, each told once. Returns a stop: nothing more is told after it.
 */
function listenBody(
  req: NodeRequestLike,
  limit: number,
  sink: { chunk(bytes: Buffer): void; end(): void; fail(e: unknown): void },
): () => void {
  let finished = false;
  let size = 0;
  req.on('data', (chunk) => {
    if (finished) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > limit) {
      finished = true;
      sink.fail(new RangeError(`request body over ${limit} bytes`));
      return;
    }
    sink.chunk(bytes);
  });
  req.on('end', () => {
    if (finished) return;
    finished = true;
    sink.end();
  });
  req.on('error', (e) => {
    if (finished) return;
    finished = true;
    sink.fail(e);
  });
  return () => {
    finished = true;
  };
}

function fastHeaders(r: LazyRequest): Headers {
  const f = r[FIELDS];
  if (f.real) return f.real.headers;
  f.headers ??= lightHeaders(f.rawHeaders);
  return f.headers;
}

/**
 * The prototype of the requests the adapters hand to the handler. Building a full Fetch `Request` costs more
 * than everything else on the rejection path of a forged callback (it makes an AbortSignal and copies the
 * headers), and that path reads only `method`, `url` and `headers`. So those three come straight from the node
 * request, and any other member builds the real `Request` once and answers from it; `instanceof Request` holds.
 */
const lazyRequestPrototype: object = (() => {
  const proto = deferredPrototype(Request, new Request('http://localhost/'), (r) => realOf(r as LazyRequest));
  Object.defineProperties(proto, {
    method: {
      configurable: true,
      get(this: LazyRequest) {
        return this[FIELDS].method;
      },
    },
    url: {
      configurable: true,
      get(this: LazyRequest) {
        return this[FIELDS].url;
      },
    },
    headers: {
      configurable: true,
      get(this: LazyRequest) {
        return fastHeaders(this);
      },
    },
    // The body as text without a Fetch body stream in between (every handler here reads bodies this way).
    text: {
      configurable: true,
      writable: true,
      value(this: LazyRequest): Promise<string> {
        const f = this[FIELDS];
        if (f.real || f.read) return realOf(this).text();
        if (!f.source) return Promise.resolve('');
        f.read = true;
        return readText(f.source, MAX_BODY);
      },
    },
  });
  return proto;
})();

/**
 * Whether the runtime's own `Request` accepts the lazy stand-in where a Request is expected (`new Request(it)`,
 * `fetch(it)`). Node 24's Fetch brand-checks its argument through a private field the stand-in cannot have; there
 * every request is built as a real `Request` at once, which costs a little more and behaves the same.
 */
const lazyRequestsAccepted: boolean = (() => {
  const fields: LazyFields = {
    method: 'GET',
    url: 'http://localhost/',
    pathname: '/',
    target: '/',
    rawHeaders: [],
    headers: undefined,
    source: undefined,
    read: false,
    real: undefined,
  };
  try {
    new Request(Object.create(lazyRequestPrototype, { [FIELDS]: { value: fields } }) as Request);
    return true;
  } catch {
    return false;
  }
})();

/** The origin of the last origin URL asked for (a server passes the same one with every request). */
let lastOrigin: { of: string; origin: string } | undefined;

function originOf(origin: string): string {
  if (lastOrigin?.of !== origin) lastOrigin = { of: origin, origin: new URL(origin).origin };
  return lastOrigin.origin;
}

/**
 * A Web Request for a node request. The body (if any) is read on demand, up to 64 KiB: `text()` straight from the
 * node stream, any other body member through a Fetch stream. `target` is the request target to use (default
 * `req.url`; a framework that rewrites `req.url` for mounted routers passes the original one).
 */
export async function toWebRequest(
  req: NodeRequestLike,
  origin = 'http://localhost',
  target: string = req.url ?? '/',
): Promise<Request> {
  // A path is appended to the origin, never resolved against it: resolved, `//connect/api/x` would name the host
  // `connect` and the path `/api/x` (the adapters refuse such targets; this keeps every other caller safe too).
  const url = target.startsWith('/') ? new URL(`${originOf(origin)}${target}`) : new URL(target, origin);
  const method = req.method ?? 'GET';
  const fields: LazyFields = {
    method,
    url: url.href,
    pathname: url.pathname,
    target,
    rawHeaders: req.rawHeaders,
    headers: undefined,
    source: method !== 'GET' && method !== 'HEAD' ? req : undefined,
    read: false,
    real: undefined,
  };
  const request = Object.create(lazyRequestPrototype, {
    [FIELDS]: { value: fields },
  }) as LazyRequest;
  // Fetch refuses a URL with credentials; refuse it here, as building the Request would.
  if (lazyRequestsAccepted && url.username === '' && url.password === '') return request;
  const real = realOf(request);
  targets.set(real, target);
  return real;
}

/** The request target each real Request made by {@link toWebRequest} was built from (a lazy one keeps its own). */
const targets = new WeakMap<Request, string>();

/**
 * The request target a request was built from by {@link toWebRequest} (URL parsing has since folded dot
 * segments and backslashes into its `url`); undefined for a request made any other way.
 */
export function requestTargetOf(request: Request): string | undefined {
  return (request as Partial<LazyRequest>)[FIELDS]?.target ?? targets.get(request);
}

/**
 * The path of a request's URL (`new URL(request.url).pathname`): for a request {@link toWebRequest} made, the one
 * it parsed, so the handlers a request passes through do not each parse its URL again.
 */
export function requestPath(request: Request): string {
  const f = (request as Partial<LazyRequest>)[FIELDS];
  return f ? f.pathname : new URL(request.url).pathname;
}

/** Writes a Web Response to a node response. */
export async function sendWebResponse(res: ServerResponse, r: Response): Promise<void> {
  const light = lightParts(r);
  if (light) {
    res.writeHead(light.status, light.headers);
    res.end(light.body);
    return;
  }
  const headers: Record<string, string | string[]> = {};
  r.headers.forEach((v, k) => {
    if (k !== 'set-cookie') headers[k] = v;
  });
  const cookies = r.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  // The body is read before the status line is written, so a body that fails still leaves room for a 500.
  // The stream's own reader: pages are small (one or two chunks), and this skips arrayBuffer()'s extra layers.
  const chunks: Uint8Array[] = [];
  if (r.body) {
    const reader = r.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  }
  res.writeHead(r.status, headers);
  res.end(chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}

/**
 * A node:http request listener for a {@link ConnectHandler}. Requests outside the handler's paths go to
 * `fallback` (default: 404).
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { toNodeListener } from 'noon-connect/http';
 *
 * http.createServer(toNodeListener(handler, (req, res) => myApp(req, res))).listen(8787);
 * ```
 */
export function toNodeListener(
  handler: ConnectHandler,
  fallback: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  },
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    // A raw CR or LF in the request target makes node read the line as HTTP/0.9, cut at the break, with the
    // rest as headers: the handler would judge a shortened URL. No browser speaks HTTP/0.9 (C4).
    if (req.httpVersionMajor < 1) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' });
      res.end('bad request');
      return;
    }
    // H5: a target that is not a plain absolute path (`//…`, `\`, dot segments) is refused before any routing.
    if (!isPlainTarget(req.url ?? '/')) {
      sendWebResponse(res, badTargetResponse()).catch(() => res.end());
      return;
    }
    // The request line's target is kept whole: the handler judges its length and characters (C4).
    toWebRequest(req)
      .then(handler)
      .then((r) => (r ? sendWebResponse(res, r) : fallback(req, res)))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end();
      });
  };
}
