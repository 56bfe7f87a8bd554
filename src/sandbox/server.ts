// The sandbox server: routes requests to endpoint handlers, enforces the gateway-wide rules (User-Agent, body
// size, rate limits, X-Request-Id), applies scripted faults, and journals every request.

import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Context, Handler, Switches } from './context.js';
import { accessOAuth, accessProject } from './endpoints/access-app.js';
import { createCredential, listCredentials, removeCredential } from './endpoints/api-users.js';
import { catalogItems } from './endpoints/catalog.js';
import { consentDecide, consentGet, consentSignIn } from './endpoints/consent.js';
import { login } from './endpoints/login.js';
import { tokenCreate } from './endpoints/token-create.js';
import { tokenExchange } from './endpoints/token-exchange.js';
import { whoami } from './endpoints/whoami.js';
import {
  GrpcCode,
  Internal,
  MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  PermissionDenied,
  RateLimited,
  SandboxError,
  Unavailable,
  UserAgentRequired,
} from './errors.js';
import {
  type EndpointName,
  type FaultAction,
  type Faults,
  faultCommits,
  malformedBody,
  mutateJson,
} from './faults.js';
import { html, json, parseCookies, type SandboxRequest, type SandboxResponse } from './http.js';
import type { Journal } from './journal.js';
import { h, layout, PAGE_HEADERS } from './pages.js';
import { retryHeaders, type WindowCounter } from './rate-limit.js';
import { type RequestSubject, requestSubject } from './subject.js';

export interface Route {
  endpoint: EndpointName | 'access' | 'admin' | 'index';
  method: string;
  handler: Handler;
  /** Gateway routes: JSON errors, User-Agent required, rate limits. */
  gateway: boolean;
}

export function gatewayRoutes(s: Switches): Map<string, Route> {
  const r = new Map<string, Route>();
  const add = (path: string, method: string, endpoint: Route['endpoint'], handler: Handler, gateway = true) =>
    r.set(path, { endpoint, method, handler, gateway });
  add('/identity/public/v1/api/login', 'POST', 'login', login);
  add('/identity/v1/whoami', 'GET', 'whoami', whoami);
  add('/identity/oauth/v1/token/create', 'POST', 'token.create', tokenCreate);
  add('/identity/oauth/v1/token/exchange', 'POST', 'token.exchange', tokenExchange);
  add(s.apiUserPaths.create, 'POST', 'api_users.create', createCredential);
  add(s.apiUserPaths.list, 'POST', 'api_users.list', listCredentials);
  add(s.apiUserPaths.remove, 'POST', 'api_users.remove', removeCredential);
  add('/catalog/v1/items', 'GET', 'catalog.items', catalogItems);
  add('/oauth/signin', 'POST', 'consent', consentSignIn, false);
  add('/oauth/decide', 'POST', 'consent', consentDecide, false);
  add('/access/oauth', 'GET', 'access', accessOAuth, false);
  return r;
}

export interface ServerParts {
  ctx: Context;
  faults: Faults;
  journal: Journal;
  gatewayLimiter: () => WindowCounter | undefined;
  admin: (req: SandboxRequest) => Promise<SandboxResponse>;
  onError: (err: unknown) => void;
  /** Whether the admin API may answer a `Host` header (see guard.ts; default: any). */
  hostAllowed?: (host: string | undefined) => boolean;
}

function indexPage(): string {
  return layout(
    'noon-connect sandbox',
    h`<h1>noon-connect sandbox</h1><div class="card"><p>A local stand-in for noon's consent page and API gateway.</p>
<ul><li><a href="/access/oauth">Access App: OAuth requests</a></li></ul></div>`,
  );
}

const INDEX_ROUTE: Route = {
  endpoint: 'index',
  method: 'GET',
  handler: () => html(200, indexPage(), { ...PAGE_HEADERS }),
  gateway: false,
};

function errorResponse(err: SandboxError, withReason: boolean): SandboxResponse {
  const res = json(err.status, err.body(withReason), { ...err.headers });
  res.reason = err.reason;
  return res;
}

/** A latency fault's wait; unref'd so a delayed request never keeps a closed sandbox's process alive. */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

class BodyTooLarge extends Error {}
/** The client went away before its request body was complete: there is nobody to answer. */
class ClientGone extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => reject(new ClientGone()));
    // A body cut off mid-way may end with 'close' alone; without this the handler would wait forever.
    req.on('close', () => {
      if (!req.complete) reject(new ClientGone());
    });
  });
}

/**
 * The request path without its query. A target that starts with `//` stays a path: resolved against a base URL
 * it would read as a host name, so `//x/_sandbox/faults` would reach the admin API under another path.
 */
function requestTarget(rawUrl: string): { path: string; query: URLSearchParams } {
  try {
    const u = rawUrl.startsWith('/') ? new URL(`http://sandbox.invalid${rawUrl}`) : new URL(rawUrl);
    return { path: u.pathname, query: u.searchParams };
  } catch {
    return { path: '/', query: new URLSearchParams() };
  }
}

function bodyBuffer(body: string | Buffer): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body);
}

/** Builds the node:http request listener. */
export function createListener(parts: ServerParts) {
  const { ctx, faults, journal } = parts;
  let routes = gatewayRoutes(ctx.switches);
  let routesFor = ctx.switches.apiUserPaths;

  return async function listener(nreq: IncomingMessage, nres: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = randomUUID();
    const method = nreq.method ?? 'GET';
    const { path, query } = requestTarget(nreq.url ?? '/');
    if (routesFor !== ctx.switches.apiUserPaths) {
      routes = gatewayRoutes(ctx.switches);
      routesFor = ctx.switches.apiUserPaths;
    }
    let route: Route | undefined = routes.get(path);
    if (!route && path === '/') {
      route =
        query.size > 0
          ? { endpoint: 'consent', method: 'GET', handler: consentGet, gateway: false }
          : INDEX_ROUTE;
    }
    if (!route && path.startsWith('/access/projects/'))
      route = { endpoint: 'access', method: 'GET', handler: accessProject, gateway: false };
    const isAdmin = path === '/_sandbox' || path.startsWith('/_sandbox/');
    const endpoint = isAdmin ? 'admin' : (route?.endpoint ?? 'unknown');
    const gateway = !isAdmin && (route?.gateway ?? true);
    const withReason = ctx.switches.errorReasons;
    let faultName: string | undefined;
    let res: SandboxResponse;
    let action: FaultAction | undefined;
    let subject: RequestSubject = {};
    // Gateway requests say whether they carried the integrator session and a User-Agent (never the values).
    const presented =
      gateway && route
        ? {
            session: parseCookies(nreq.headers.cookie).has('_npsid'),
            userAgent: !!nreq.headers['user-agent'],
          }
        : {};

    const finish = (status: number, r?: SandboxResponse) => {
      journal.record({
        at: ctx.world.clock.now(),
        method,
        path,
        endpoint,
        status,
        durationMs: performance.now() - started,
        requestId,
        ...(r?.project !== undefined ? { project: r.project } : {}),
        ...(subject.sellerProject !== undefined ? { sellerProject: subject.sellerProject } : {}),
        ...(subject.keyId !== undefined ? { keyId: subject.keyId } : {}),
        ...presented,
        ...(r?.reason !== undefined ? { reason: r.reason } : {}),
        ...(faultName !== undefined ? { fault: faultName } : {}),
      });
    };

    try {
      // H7: the admin API under a DNS name rebound to this loopback sandbox is refused before anything is read.
      if (isAdmin && parts.hostAllowed && !parts.hostAllowed(nreq.headers.host))
        throw new PermissionDenied('this sandbox answers only loopback host names');
      let body: Buffer;
      try {
        body =
          method === 'GET' || method === 'HEAD'
            ? Buffer.alloc(0)
            : await readBody(nreq, ctx.switches.maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge)
          throw new PayloadTooLarge(`the limit is ${ctx.switches.maxBodyBytes} bytes`);
        if (e instanceof ClientGone) {
          finish(0);
          return;
        }
        throw e;
      }
      const req: SandboxRequest = {
        method,
        path,
        query,
        headers: nreq.headers,
        body,
        cookies: parseCookies(nreq.headers.cookie),
        requestId,
        secure: 'encrypted' in nreq.socket && Boolean((nreq.socket as { encrypted?: boolean }).encrypted),
      };
      if (isAdmin) {
        res = await parts.admin(req);
      } else if (!route) {
        throw new NotFound(`no route for ${path.slice(0, 200)}`);
      } else if (route.method !== method && !(route.method === 'GET' && method === 'HEAD')) {
        throw new MethodNotAllowed(`use ${route.method}`, { allow: route.method });
      } else {
        if (gateway) {
          // NC7: Noon requires a User-Agent on every API request.
          if (ctx.switches.requireUserAgent && !nreq.headers['user-agent']) throw new UserAgentRequired();
          const limiter = parts.gatewayLimiter();
          if (limiter) {
            const sid = req.cookies.get('_npsid');
            const key =
              (sid && ctx.world.sessions.get(sid)?.projectCode) || `ip:${nreq.socket.remoteAddress ?? ''}`;
            const wait = limiter.blockedFor(key);
            if (wait > 0) throw new RateLimited('project rate limit', retryHeaders(wait));
            limiter.hit(key);
          }
        }
        const endpointName =
          route.endpoint === 'access' || route.endpoint === 'index' || route.endpoint === 'admin'
            ? undefined
            : route.endpoint;
        if (endpointName && endpointName !== 'consent')
          subject = requestSubject(endpointName, req, ctx.world);
        action = endpointName ? faults.take(endpointName, subject.sellerProject) : undefined;
        if (action) faultName = action.type;
        if (action?.type === 'latency') await sleep(action.ms);
        // `expire` ages the presented code or access token, then lets the endpoint answer as it then must.
        if (action?.type === 'expire') subject.expire?.();
        if (action && action.type !== 'latency' && !faultCommits(action)) {
          res = faultResponse(action, withReason);
        } else {
          res = await route.handler(req, ctx);
        }
      }
    } catch (e) {
      if (e instanceof SandboxError) {
        res =
          gateway || isAdmin
            ? errorResponse(e, withReason)
            : html(e.status, layout('Error', h`<h1>${e.message}</h1>`), { ...PAGE_HEADERS });
        if (!gateway && !isAdmin) res.reason = e.reason;
      } else {
        parts.onError(e);
        res = errorResponse(new Internal(), withReason);
      }
    }
    // Faults that spoil the answer on its way out. With `commit` the endpoint's own answer is spoilt; without,
    // the stand-in from faultResponse() is (the endpoint did nothing).
    if (action) {
      switch (action.type) {
        case 'commit-then-drop':
          finish(0, res);
          nres.socket?.destroy();
          return;
        case 'hang':
          finish(0, res);
          return;
        case 'reset': {
          const buf = bodyBuffer(res.body);
          nres.writeHead(res.status, {
            ...res.headers,
            'content-length': String(buf.length),
            'x-request-id': requestId,
          });
          nres.write(buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))));
          finish(0, res);
          setImmediate(() => nres.socket?.destroy());
          return;
        }
        case 'trickle': {
          const buf = bodyBuffer(res.body);
          nres.writeHead(res.status, {
            ...res.headers,
            'content-length': String(buf.length),
            'x-request-id': requestId,
          });
          finish(res.status, res);
          let i = 0;
          const timer = setInterval(() => {
            if (nres.destroyed || i >= buf.length) {
              clearInterval(timer);
              if (!nres.destroyed) nres.end();
              return;
            }
            nres.write(buf.subarray(i, i + 1));
            i++;
          }, action.intervalMs ?? 1000);
          nres.on('close', () => clearInterval(timer));
          return;
        }
        case 'mutate':
          if (typeof res.body === 'string' && res.body.length > 0) {
            try {
              res.body = mutateJson(res.body, action.set, action.drop);
            } catch {}
          }
          break;
        case 'status':
        case 'malformed':
          // The endpoint's answer is replaced, so whatever it issued never reaches the client: no onDelivered.
          if (faultCommits(action)) res = faultResponse(action, withReason);
          break;
        default:
          break;
      }
    }

    // NC28: every token and exchange answer is no-store, errors raised before the endpoint ran included
    // (injected fault answers are left exactly as scripted).
    if ((route?.endpoint === 'token.create' || route?.endpoint === 'token.exchange') && !action) {
      Object.assign(res.headers, { 'cache-control': 'no-store', pragma: 'no-cache' });
    }
    res.headers['x-request-id'] = requestId;
    // 204 and 304 carry no body by definition; any other answer names its length (for HEAD, the length its GET
    // would have), so the connection can stay open.
    const bodiless = res.status === 204 || res.status === 304;
    const out = method === 'HEAD' || bodiless ? undefined : res.body;
    try {
      nres.writeHead(
        res.status,
        bodiless ? res.headers : { ...res.headers, 'content-length': String(bodyBuffer(res.body).length) },
      );
    } catch (e) {
      // Headers node:http refuses (an endpoint bug): answer a plain 500 rather than no answer at all.
      parts.onError(e);
      res = errorResponse(new Internal(), withReason);
      res.headers['x-request-id'] = requestId;
      nres.writeHead(res.status, res.headers);
      finish(res.status, res);
      nres.end(method === 'HEAD' ? undefined : res.body);
      return;
    }
    finish(res.status, res);
    if (res.onDelivered) {
      const delivered = res.onDelivered;
      nres.on('finish', () => delivered());
    }
    nres.end(out);
  };
}

/**
 * The answer a fault gives instead of (or over) the endpoint's own. For `hang`, `reset` and `trickle` without
 * `commit` it is the stand-in those faults then withhold, cut or slow down: a 503, as from a busy upstream.
 */
function faultResponse(a: FaultAction, withReason: boolean): SandboxResponse {
  switch (a.type) {
    case 'status': {
      const body = a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
      const ct = typeof a.body === 'string' ? 'text/plain' : 'application/json';
      return { status: a.status, headers: { 'content-type': ct, ...(a.headers ?? {}) }, body };
    }
    case 'malformed': {
      const m = malformedBody(a.body);
      return { status: 200, headers: { 'content-type': m.contentType }, body: m.body };
    }
    case 'rate-limit': {
      const s = a.retryAfter ?? 1;
      const e = new RateLimited('injected', retryHeaders(s));
      return json(429, e.body(withReason), e.headers);
    }
    case 'redirect':
      return { status: a.status ?? 302, headers: { location: a.location }, body: '' };
    default:
      return json(503, new Unavailable('injected').body(withReason));
  }
}

/** Answers node:http gives itself for requests it cannot parse, as a status and a reason per parser error. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'HEADERS_TOO_LARGE', message: 'request headers too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'REQUEST_TIMEOUT', message: 'request not received in time' };
    default:
      return { status: 400, reason: 'BAD_REQUEST', message: 'the request could not be parsed' };
  }
}

/**
 * Tracks sockets so close() can end hung and kept-alive connections at once. It also answers requests node:http
 * refuses to parse (oversized headers, a broken request line) in the gateway's error shape with an X-Request-Id
 * (NC37, NC39), where node's own answer would be a bare status line.
 */
export function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Nobody is left to answer once the peer reset the connection or an answer has started.
    if (
      err.code === 'ECONNRESET' ||
      !socket.writable ||
      (err as { bytesParsed?: number }).bytesParsed === 0
    ) {
      socket.destroy();
      return;
    }
    const a = clientErrorAnswer(err.code);
    const body = JSON.stringify(
      new SandboxError(a.status, GrpcCode.INVALID_ARGUMENT, a.reason, a.message).body(),
    );
    socket.end(
      `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return sockets;
}
