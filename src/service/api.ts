// The REST API for the integrator's own backend (bearer token): list and read connections, make connect links,
// rotate, disconnect and health-check connections, and call Noon as a connected seller. See docs/service-api.md.

import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackHost, NoonError } from '../client/index.js';
import { ConnectError, checkReturnPath } from '../connect/index.js';
import type { Connection, ConnectionStatus } from '../store/index.js';
import {
  ApiError,
  checkConnectionId,
  checkTenant,
  connectionJson,
  errorResponse,
  jsonResponse,
  objectBody,
  queryParams,
  readJson,
} from './api/http.js';
import { parseProxyRequest, sendProxied } from './api/proxy.js';
import type { ServiceConfig } from './config.js';
import { openApiDocument } from './openapi.js';
import type { RouteHandler, ServiceContext } from './service.js';

/**
 * When present, every call is restricted to this tenant: listings show only its connections, any other tenant's
 * connection answers 404 as if it did not exist, and naming another tenant anywhere answers 403. A backend that
 * serves many tenants sets it per request, so a bug in its own code cannot reach across tenants.
 */
export const TENANT_HEADER = 'x-noon-connect-tenant';

export const OPENAPI_PATH = '/api/openapi.json';

const CONNECTION_STATUSES: readonly ConnectionStatus[] = ['active', 'needs_reconnect', 'disconnected'];
const ACTIONS = ['rotate', 'disconnect', 'health-check', 'proxy'] as const;
type Action = (typeof ACTIONS)[number];

type RouteName = 'list' | 'get' | 'links' | Action;

/** A matched route; `id` is the connection's ('' on routes without one). */
interface Route {
  name: RouteName;
  id: string;
}

const ALLOWED: Record<RouteName, string> = {
  list: 'GET',
  get: 'GET',
  links: 'POST',
  rotate: 'POST',
  disconnect: 'POST',
  'health-check': 'POST',
  proxy: 'POST',
};

/** The route a path names, or undefined (404). Ids are checked here so no handler sees a malformed one. */
function matchRoute(path: string): Route | undefined {
  const s = path.split('/').slice(2);
  if (s.length === 1 && s[0] === 'connect-links') return { name: 'links', id: '' };
  if (s[0] !== 'connections') return undefined;
  if (s.length === 1) return { name: 'list', id: '' };
  if (s.length === 2 && s[1] !== '') return { name: 'get', id: checkConnectionId(s[1]!) };
  const action = s[2] as Action;
  if (s.length === 3 && s[1] !== '' && ACTIONS.includes(action))
    return { name: action, id: checkConnectionId(s[1]!) };
  return undefined;
}

const CHALLENGE = 'Bearer realm="noon-connect"';

/**
 * In open dev mode, only requests addressed to a loopback name and not sent by another site's page: a page
 * elsewhere could otherwise reach the API through DNS rebinding or a simple cross-site POST.
 */
function sameMachineRequest(request: Request): boolean {
  const host = request.headers.get('host');
  const name =
    host === null
      ? new URL(request.url).hostname
      : host.startsWith('[')
        ? host.slice(0, host.indexOf(']') + 1)
        : host.split(':')[0]!;
  if (!isLoopbackHost(name)) return false;
  if (request.headers.get('sec-fetch-site') === 'cross-site') return false;
  const origin = request.headers.get('origin');
  if (origin && origin !== 'null') {
    try {
      if (!isLoopbackHost(new URL(origin).hostname)) return false;
    } catch {
      return false;
    }
  } else if (origin === 'null') return false;
  return true;
}

/** The bearer check: the token's digest is compared in constant time, so timing says nothing about it. */
function bearerAuth(config: ServiceConfig): (request: Request) => ApiError | undefined {
  const token = config.apiToken;
  if (token === undefined) {
    // Only dev mode may run without a token, and then only while nothing but this machine can connect.
    const open = config.mode === 'dev' && isLoopbackHost(config.host);
    return (request) =>
      open && sameMachineRequest(request)
        ? undefined
        : new ApiError(401, 'UNAUTHORIZED', 'the REST API is off: set NOON_CONNECT_API_TOKEN', {
            'www-authenticate': CHALLENGE,
          });
  }
  const expected = createHash('sha256').update(token).digest();
  return (request) => {
    const m = /^Bearer +([^\s]+) *$/i.exec(request.headers.get('authorization') ?? '');
    if (!m)
      return new ApiError(401, 'UNAUTHORIZED', 'a bearer token is required: Authorization: Bearer <token>', {
        'www-authenticate': CHALLENGE,
      });
    const given = createHash('sha256').update(m[1]!).digest();
    if (!timingSafeEqual(given, expected))
      return new ApiError(401, 'UNAUTHORIZED', 'the bearer token is not valid', {
        'www-authenticate': `${CHALLENGE}, error="invalid_token"`,
      });
    return undefined;
  };
}

/** The tenant of the `X-Noon-Connect-Tenant` restriction; an empty or malformed header restricts nothing: 400. */
function restriction(request: Request): string | undefined {
  const h = request.headers.get(TENANT_HEADER);
  return h === null ? undefined : checkTenant(h, 'the X-Noon-Connect-Tenant header');
}

function mismatch(): ApiError {
  return new ApiError(
    403,
    'TENANT_MISMATCH',
    'the tenant named in the request differs from the X-Noon-Connect-Tenant header',
  );
}

/** The tenant a call is scoped to: the header's, or `?tenant=`; both must agree. */
function tenantScope(request: Request, params: Map<string, string>): string | undefined {
  const restricted = restriction(request);
  const q = params.get('tenant');
  const asked = q === undefined ? undefined : checkTenant(q, 'the tenant query parameter');
  if (restricted !== undefined && asked !== undefined && asked !== restricted) throw mismatch();
  return restricted ?? asked;
}

function notFound(): ApiError {
  return new ApiError(404, 'CONNECTION_NOT_FOUND', 'no such connection');
}

/** The connector's errors, as statuses; their messages are written to carry no secret. */
function fromConnectError(e: ConnectError): ApiError {
  switch (e.code) {
    case 'INVALID_ARGUMENT':
      return new ApiError(400, 'INVALID_REQUEST', e.message);
    case 'RETURN_PATH_REFUSED':
      return new ApiError(400, 'RETURN_PATH_REFUSED', e.message);
    case 'CONNECTION_NOT_FOUND':
      return new ApiError(404, 'CONNECTION_NOT_FOUND', e.message);
    case 'CONNECTION_INACTIVE':
      return new ApiError(409, 'CONNECTION_INACTIVE', e.message);
    case 'KEY_LIMIT':
      return new ApiError(409, 'KEY_LIMIT', e.message);
    case 'UNAVAILABLE':
      return new ApiError(502, 'UNAVAILABLE', e.message);
    default:
      return new ApiError(500, 'INTERNAL', 'internal error');
  }
}

export function createApiHandler(ctx: ServiceContext): RouteHandler {
  const authenticate = bearerAuth(ctx.config);
  const openapi = openApiDocument({ serverUrl: ctx.config.publicUrl });

  const toApiError = (e: unknown, route: string): ApiError => {
    if (e instanceof ApiError) return e;
    if (e instanceof ConnectError) return fromConnectError(e);
    if (e instanceof NoonError) {
      const rid = e.requestId ? ` (request id ${e.requestId})` : '';
      return new ApiError(502, 'UNAVAILABLE', `Noon call failed (${e.code})${rid}`);
    }
    ctx.logger.error({ route, code: (e as { code?: string })?.code ?? (e as Error)?.name }, 'api error');
    return new ApiError(500, 'INTERNAL', 'internal error');
  };

  /** A connection the call may see: absent and another tenant's look the same (404). */
  const visibleConnection = async (id: string, scope: string | undefined): Promise<Connection> => {
    const c = await ctx.store.getConnection(id);
    if (!c || (scope !== undefined && c.tenant !== scope)) throw notFound();
    return c;
  };

  /** The operations take no input: an empty body or `{}`. */
  const noBody = async (request: Request) => {
    const body = await readJson(request);
    if (body !== undefined) objectBody(body, [], 'the request body');
  };

  const handlers: Record<RouteName, (request: Request, url: URL, id: string) => Promise<Response>> = {
    async list(request, url) {
      const params = queryParams(url, ['tenant', 'status']);
      const tenant = tenantScope(request, params);
      const status = params.get('status');
      if (status !== undefined && !(CONNECTION_STATUSES as readonly string[]).includes(status))
        throw new ApiError(400, 'INVALID_REQUEST', `status must be one of ${CONNECTION_STATUSES.join(', ')}`);
      const rows = await ctx.store.listConnections({
        ...(tenant !== undefined ? { tenant } : {}),
        ...(status !== undefined ? { status: status as ConnectionStatus } : {}),
      });
      return jsonResponse(200, { connections: rows.map(connectionJson) });
    },

    async get(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      return jsonResponse(200, connectionJson(await visibleConnection(id, scope)));
    },

    async links(request, url) {
      queryParams(url, []);
      const restricted = restriction(request);
      const body = objectBody(await readJson(request), ['tenant', 'return_to', 'connection_id'], 'the body');
      if (body.tenant === undefined && restricted === undefined)
        throw new ApiError(400, 'INVALID_REQUEST', 'tenant is required');
      const tenant = body.tenant === undefined ? restricted! : checkTenant(body.tenant, 'tenant');
      if (restricted !== undefined && tenant !== restricted) throw mismatch();
      if (body.return_to !== undefined && typeof body.return_to !== 'string')
        throw new ApiError(400, 'INVALID_REQUEST', 'return_to must be a string');
      // Without one, the first allowed return path: a link must be able to start (the connector's own default,
      // `/`, is refused when the allow-list does not hold it).
      const returnTo = checkReturnPath(
        (body.return_to as string | undefined) ?? ctx.config.returnPaths[0] ?? '/',
        ctx.config.returnPaths,
      );
      let connectionId: string | undefined;
      if (body.connection_id !== undefined) {
        if (typeof body.connection_id !== 'string')
          throw new ApiError(400, 'INVALID_REQUEST', 'connection_id must be a string');
        connectionId = (await visibleConnection(checkConnectionId(body.connection_id), tenant)).id;
      }
      const link = ctx.links.create({
        tenant,
        returnTo,
        ...(connectionId !== undefined ? { connectionId } : {}),
      });
      ctx.logger.info({ api: 'connect-link', tenant, connectionId }, 'connect link issued');
      return jsonResponse(201, { url: link.url, expires_at: new Date(link.expiresAt).toISOString() });
    },

    async rotate(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      await noBody(request);
      await visibleConnection(id, scope);
      await ctx.connector.rotate(id, scope);
      const c = await visibleConnection(id, scope);
      ctx.logger.info({ api: 'rotate', connectionId: id, tenant: c.tenant, keyId: c.keyId }, 'key rotated');
      return jsonResponse(200, connectionJson(c));
    },

    async disconnect(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      await noBody(request);
      const before = await visibleConnection(id, scope);
      // Asking twice is answered from the store: nothing upstream, no second event.
      if (before.status !== 'disconnected') await ctx.connector.disconnect(id, scope);
      const c = await visibleConnection(id, scope);
      ctx.logger.info({ api: 'disconnect', connectionId: id, tenant: c.tenant }, 'connection disconnected');
      return jsonResponse(200, connectionJson(c));
    },

    async 'health-check'(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      await noBody(request);
      await visibleConnection(id, scope);
      const h = await ctx.connector.healthCheck(id, scope);
      const c = await visibleConnection(id, scope);
      ctx.logger.info({ api: 'health-check', connectionId: id, tenant: c.tenant, ok: h.ok }, 'health check');
      return jsonResponse(200, {
        ok: h.ok,
        checked_at: new Date(h.checkedAt).toISOString(),
        detail: h.detail,
        whoami: h.whoami
          ? {
              user_code: h.whoami.userCode,
              channel_identifier: h.whoami.channelIdentifier,
              key_id: h.whoami.keyId,
              project_code: h.whoami.projectCode,
              projects: h.whoami.projects,
            }
          : null,
        connection: connectionJson(c),
      });
    },

    async proxy(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      const call = parseProxyRequest(await readJson(request));
      const c = await visibleConnection(id, scope);
      if (c.status !== 'active')
        throw new ApiError(409, 'CONNECTION_INACTIVE', `the connection is ${c.status.replace('_', ' ')}`);
      // The session is the one of this connection's own tenant and seller: the id decided both.
      const session = await ctx.connector.sellerSession(c.tenant, c.sellerProject);
      const result = await sendProxied(session, call);
      ctx.logger.info(
        {
          api: 'proxy',
          connectionId: c.id,
          tenant: c.tenant,
          method: call.method,
          path: call.path,
          status: result.status,
          requestId: result.headers['x-request-id'],
        },
        'proxied seller call',
      );
      return jsonResponse(200, result);
    },
  };

  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path !== '/api' && !path.startsWith('/api/')) return undefined;
    let routeName = 'unmatched';
    try {
      // The description of the API is public: it holds nothing a caller could not learn from the docs.
      if (path === OPENAPI_PATH) {
        routeName = 'openapi';
        if (request.method !== 'GET') throw methodNotAllowed('GET');
        return jsonResponse(200, openapi);
      }
      // Authentication comes before anything else is judged, so an anonymous caller learns nothing more.
      const denied = authenticate(request);
      if (denied) return errorResponse(denied);
      const route = matchRoute(path);
      if (!route) throw new ApiError(404, 'NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}`);
      routeName = route.name;
      if (request.method !== ALLOWED[route.name]) throw methodNotAllowed(ALLOWED[route.name]);
      return await handlers[route.name](request, url, route.id);
    } catch (e) {
      const err = toApiError(e, routeName);
      if (err.status >= 500)
        ctx.logger.warn({ route: routeName, status: err.status, code: err.code }, 'api call failed');
      return errorResponse(err);
    }
  };
}

function methodNotAllowed(allow: string): ApiError {
  return new ApiError(405, 'METHOD_NOT_ALLOWED', `this route answers ${allow} only`, { allow });
}
