// The sandbox server: routes requests to endpoint handlers, enforces the gateway-wide rules (User-Agent, body
// size, rate limits, X-Request-Id), applies scripted faults, and journals every request.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
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
  Internal,
  MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  RateLimited,
  SandboxError,
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class BodyTooLarge extends Error {}

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
    req.on('error', reject);
  });
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
    const rawUrl = nreq.url ?? '/';
    let path: string;
    let query: URLSearchParams;
    try {
      const u = new URL(rawUrl, 'http://sandbox.invalid');
      path = u.pathname;
      query = u.searchParams;
    } catch {
      path = '/';
      query = new URLSearchParams();
    }
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
        ...(r?.reason !== undefined ? { reason: r.reason } : {}),
        ...(faultName !== undefined ? { fault: faultName } : {}),
      });
    };

    try {
      let body: Buffer;
      try {
        body =
          method === 'GET' || method === 'HEAD'
            ? Buffer.alloc(0)
            : await readBody(nreq, ctx.switches.maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge)
          throw new PayloadTooLarge(`the limit is ${ctx.switches.maxBodyBytes} bytes`);
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
        action =
          route.endpoint === 'access' || route.endpoint === 'index' || route.endpoint === 'admin'
            ? undefined
            : faults.take(route.endpoint);
        if (action) faultName = action.type;
        if (action?.type === 'latency') await sleep(action.ms);
        if (action && action.type !== 'latency' && !faultCommits(action)) {
          res = faultResponse(action);
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
    // Faults that spoil an answer after the work was done.
    if (action && faultCommits(action)) {
      switch (action.type) {
        case 'commit-then-drop':
          finish(0, res);
          nres.socket?.destroy();
          return;
        case 'hang':
          finish(0, res);
          return;
        case 'reset': {
          const buf = Buffer.isBuffer(res.body) ? res.body : Buffer.from(res.body);
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
          const buf = Buffer.isBuffer(res.body) ? res.body : Buffer.from(res.body);
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
        default:
          res = { ...faultResponse(action), ...(res.onDelivered ? { onDelivered: res.onDelivered } : {}) };
      }
    } else if (action && action.type === 'hang') {
      finish(0);
      return;
    }

    res.headers['x-request-id'] = requestId;
    finish(res.status, res);
    if (res.onDelivered) {
      const delivered = res.onDelivered;
      nres.on('finish', () => delivered());
    }
    nres.writeHead(res.status, res.headers);
    nres.end(method === 'HEAD' ? undefined : res.body);
  };
}

/** The answer a fault gives instead of (or over) the endpoint's own. */
function faultResponse(a: FaultAction): SandboxResponse {
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
      return json(429, e.body(), e.headers);
    }
    case 'redirect':
      return { status: a.status ?? 302, headers: { location: a.location }, body: '' };
    default:
      return json(500, new Internal().body());
  }
}

/** Tracks sockets so close() can end hung and kept-alive connections at once. */
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
  return sockets;
}
