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
import {
  BodyTooLarge,
  ClientGone,
  EMPTY_BODY,
  IncomingRequest,
  readBody,
  requestTarget,
} from './incoming.js';
import type { Journal, JournalEntry } from './journal.js';
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
const CONSENT_ROUTE: Route = { endpoint: 'consent', method: 'GET', handler: consentGet, gateway: false };
const ACCESS_PROJECT_ROUTE: Route = {
  endpoint: 'access',
  method: 'GET',
  handler: accessProject,
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

function bodyBuffer(body: string | Buffer): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body);
}

function byteLength(body: string | Buffer): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}

/** What a request's journal entry is made of, gathered while it is handled. */
interface Exchange {
  readonly started: number;
  readonly method: string;
  readonly path: string;
  readonly endpoint: string;
  readonly requestId: string;
  /** Gateway requests: whether the integrator session and a User-Agent came (never the values). */
  readonly session: boolean | undefined;
  readonly userAgent: boolean | undefined;
  subject: RequestSubject;
  fault: string | undefined;
}

const NO_SUBJECT: RequestSubject = Object.freeze({});

function journalEntry(x: Exchange, at: number, status: number, r: SandboxResponse | undefined): JournalEntry {
  const e: JournalEntry = {
    seq: 0,
    at,
    method: x.method,
    path: x.path,
    endpoint: x.endpoint,
    status,
    durationMs: performance.now() - x.started,
    requestId: x.requestId,
  };
  if (r?.project !== undefined) e.project = r.project;
  if (x.subject.sellerProject !== undefined) e.sellerProject = x.subject.sellerProject;
  if (x.subject.keyId !== undefined) e.keyId = x.subject.keyId;
  if (x.session !== undefined) e.session = x.session;
  if (x.userAgent !== undefined) e.userAgent = x.userAgent;
  if (r?.reason !== undefined) e.reason = r.reason;
  if (x.fault !== undefined) e.fault = x.fault;
  return e;
}

/** Builds the node:http request listener. */
export function createListener(parts: ServerParts) {
  const { ctx, faults, journal } = parts;
  let routes = gatewayRoutes(ctx.switches);
  let routesFor = ctx.switches.apiUserPaths;
  const finish = (x: Exchange, status: number, r?: SandboxResponse) =>
    journal.append(journalEntry(x, ctx.world.clock.now(), status, r));

  return async function listener(nreq: IncomingMessage, nres: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = randomUUID();
    const method = nreq.method ?? 'GET';
    const headers = nreq.headers;
    const target = requestTarget(nreq.url ?? '/');
    const path = target.path;
    if (routesFor !== ctx.switches.apiUserPaths) {
      routes = gatewayRoutes(ctx.switches);
      routesFor = ctx.switches.apiUserPaths;
    }
    let route: Route | undefined = routes.get(path);
    let query: URLSearchParams | undefined;
    if (!route && path === '/') {
      query = new URLSearchParams(target.search);
      route = query.size > 0 ? CONSENT_ROUTE : INDEX_ROUTE;
    }
    if (!route && path.startsWith('/access/projects/')) route = ACCESS_PROJECT_ROUTE;
    const isAdmin = path === '/_sandbox' || path.startsWith('/_sandbox/');
    const endpoint = isAdmin ? 'admin' : (route?.endpoint ?? 'unknown');
    const gateway = !isAdmin && (route?.gateway ?? true);
    const withReason = ctx.switches.errorReasons;
    const cookies = parseCookies(headers.cookie);
    const presented = gateway && route !== undefined;
    const x: Exchange = {
      started,
      method,
      path,
      endpoint,
      requestId,
      session: presented ? cookies.has('_npsid') : undefined,
      userAgent: presented ? !!headers['user-agent'] : undefined,
      subject: NO_SUBJECT,
      fault: undefined,
    };
    let res: SandboxResponse;
    let action: FaultAction | undefined;

    try {
      // H7: the admin API under a DNS name rebound to this loopback sandbox is refused before anything is read.
      if (isAdmin && parts.hostAllowed && !parts.hostAllowed(headers.host))
        throw new PermissionDenied('this sandbox answers only loopback host names');
      let body: Buffer;
      if (method === 'GET' || method === 'HEAD') {
        body = EMPTY_BODY;
      } else {
        try {
          body = await readBody(nreq, ctx.switches.maxBodyBytes);
        } catch (e) {
          if (e instanceof BodyTooLarge)
            throw new PayloadTooLarge(`the limit is ${ctx.switches.maxBodyBytes} bytes`);
          if (e instanceof ClientGone) {
            finish(x, 0);
            return;
          }
          throw e;
        }
      }
      const req = new IncomingRequest(
        method,
        path,
        target.search,
        query,
        headers,
        body,
        cookies,
        requestId,
        'encrypted' in nreq.socket && Boolean((nreq.socket as { encrypted?: boolean }).encrypted),
      );
      if (isAdmin) {
        res = await parts.admin(req);
      } else if (!route) {
        throw new NotFound(`no route for ${path.slice(0, 200)}`);
      } else if (route.method !== method && !(route.method === 'GET' && method === 'HEAD')) {
        throw new MethodNotAllowed(`use ${route.method}`, { allow: route.method });
      } else {
        if (gateway) {
          // NC7: Noon requires a User-Agent on every API request.
          if (ctx.switches.requireUserAgent && !headers['user-agent']) throw new UserAgentRequired();
          const limiter = parts.gatewayLimiter();
          if (limiter) {
            const sid = cookies.get('_npsid');
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
          x.subject = requestSubject(endpointName, req, ctx.world);
        action = endpointName ? faults.take(endpointName, x.subject.sellerProject) : undefined;
        if (action) x.fault = action.type;
        if (action?.type === 'latency') await sleep(action.ms);
        // `expire` ages the presented code or access token, then lets the endpoint answer as it then must.
        if (action?.type === 'expire') x.subject.expire?.();
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
          finish(x, 0, res);
          nres.socket?.destroy();
          return;
        case 'hang':
          finish(x, 0, res);
          return;
        case 'reset': {
          const buf = bodyBuffer(res.body);
          nres.writeHead(res.status, {
            ...res.headers,
            'content-length': String(buf.length),
            'x-request-id': requestId,
          });
          nres.write(buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))));
          finish(x, 0, res);
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
          finish(x, res.status, res);
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
      res.headers['cache-control'] = 'no-store';
      res.headers.pragma = 'no-cache';
    }
    // Every answer's headers object is its own (made by json(), html(), an error or a fault), so it is written
    // as it is, with the request id and the length added in place.
    res.headers['x-request-id'] = requestId;
    // 204 and 304 carry no body by definition; any other answer names its length (for HEAD, the length its GET
    // would have), so the connection can stay open.
    const bodiless = res.status === 204 || res.status === 304;
    const out = method === 'HEAD' || bodiless ? undefined : res.body;
    try {
      if (!bodiless) res.headers['content-length'] = String(byteLength(res.body));
      nres.writeHead(res.status, res.headers);
    } catch (e) {
      // Headers node:http refuses (an endpoint bug): answer a plain 500 rather than no answer at all.
      parts.onError(e);
      res = errorResponse(new Internal(), withReason);
      res.headers['x-request-id'] = requestId;
      nres.writeHead(res.status, res.headers);
      finish(x, res.status, res);
      nres.end(method === 'HEAD' ? undefined : res.body);
      return;
    }
    finish(x, res.status, res);
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
