// What each REST API route does: list and read connections, make connect links, rotate, disconnect and
// health-check a connection, and call Noon as its seller. Every answer about a connection is its public view.

import { checkReturnPath } from '../../connect/index.js';
import { CONNECTION_STATUSES } from '../../connect/invariants.js';
import type { Connection, ConnectionStatus } from '../../store/index.js';
import type { ServiceContext } from '../service.js';
import { connectionJson, connectionListJson } from '../views.js';
import { noteAudit } from './audit-note.js';
import {
  ApiError,
  checkConnectionId,
  checkTenant,
  jsonResponse,
  objectBody,
  queryParams,
  readJson,
} from './http.js';
import { parseProxyRequest, sendProxied } from './proxy.js';
import type { RouteName } from './routes.js';
import { restriction, tenantMismatch, tenantScope } from './security.js';

/** One route's work: the request, its URL and the connection id the path named ('' when none). */
export type ApiAction = (request: Request, url: URL, id: string) => Promise<Response>;

function notFound(): ApiError {
  return new ApiError(404, 'CONNECTION_NOT_FOUND', 'no such connection');
}

/** The operations take no input: an empty body or `{}`. */
async function noBody(request: Request): Promise<void> {
  const body = await readJson(request);
  if (body !== undefined) objectBody(body, [], 'the request body');
}

/** The connection routes (the token and audit routes are in token-actions.ts). */
export type ConnectionRouteName = Exclude<
  RouteName,
  'tokens-list' | 'tokens-create' | 'tokens-revoke' | 'audit'
>;

export function apiActions(ctx: ServiceContext): Record<ConnectionRouteName, ApiAction> {
  /**
   * A connection the call may see: absent and another tenant's look the same (404). Given the request of a route
   * that names this connection, the row's tenant is noted for the audit record (which then reads no row again).
   */
  const visibleConnection = async (
    id: string,
    scope: string | undefined,
    routeRequest?: Request,
  ): Promise<Connection> => {
    const c = await ctx.store.getConnection(id);
    if (routeRequest) noteAudit(routeRequest, { connectionTenant: c?.tenant ?? null });
    if (!c || (scope !== undefined && c.tenant !== scope)) throw notFound();
    return c;
  };

  return {
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
      return jsonResponse(200, connectionListJson(rows));
    },

    async get(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      return jsonResponse(200, connectionJson(await visibleConnection(id, scope, request)));
    },

    async links(request, url) {
      queryParams(url, []);
      const restricted = restriction(request);
      const body = objectBody(
        await readJson(request),
        ['tenant', 'return_to', 'connection_id', 'confirm', 'expires_in'],
        'the body',
      );
      if (body.tenant === undefined && restricted === undefined)
        throw new ApiError(400, 'INVALID_REQUEST', 'tenant is required');
      const tenant = body.tenant === undefined ? restricted! : checkTenant(body.tenant, 'tenant');
      if (restricted !== undefined && tenant !== restricted) throw tenantMismatch();
      noteAudit(request, { tenant });
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
      if (body.confirm !== undefined && typeof body.confirm !== 'boolean')
        throw new ApiError(400, 'INVALID_REQUEST', 'confirm must be true or false');
      const expiresIn = body.expires_in;
      if (
        expiresIn !== undefined &&
        !(
          typeof expiresIn === 'number' &&
          Number.isInteger(expiresIn) &&
          expiresIn >= 60 &&
          expiresIn <= 604_800
        )
      )
        throw new ApiError(
          400,
          'INVALID_REQUEST',
          'expires_in must be an integer from 60 to 604800 (seconds)',
        );
      const link = ctx.links.create(
        { tenant, returnTo, ...(connectionId !== undefined ? { connectionId } : {}) },
        {
          ...(body.confirm === true ? { confirm: true } : {}),
          ...(typeof expiresIn === 'number' ? { ttlMs: expiresIn * 1000 } : {}),
        },
      );
      ctx.logger.info({ api: 'connect-link', tenant, connectionId }, 'connect link issued');
      return jsonResponse(201, { url: link.url, expires_at: new Date(link.expiresAt).toISOString() });
    },

    async rotate(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      await noBody(request);
      await visibleConnection(id, scope, request);
      await ctx.connector.rotate(id, scope);
      const c = await visibleConnection(id, scope, request);
      ctx.logger.info({ api: 'rotate', connectionId: id, tenant: c.tenant, keyId: c.keyId }, 'key rotated');
      return jsonResponse(200, connectionJson(c));
    },

    async disconnect(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      await noBody(request);
      const before = await visibleConnection(id, scope, request);
      // Asking twice is answered from the store: nothing upstream, no second event.
      if (before.status !== 'disconnected') await ctx.connector.disconnect(id, scope);
      const c = await visibleConnection(id, scope, request);
      ctx.logger.info({ api: 'disconnect', connectionId: id, tenant: c.tenant }, 'connection disconnected');
      return jsonResponse(200, connectionJson(c));
    },

    async 'health-check'(request, url, id) {
      const scope = tenantScope(request, queryParams(url, ['tenant']));
      await noBody(request);
      await visibleConnection(id, scope, request);
      const h = await ctx.connector.healthCheck(id, scope);
      const c = await visibleConnection(id, scope, request);
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
      noteAudit(request, { detail: `${call.method} ${call.path.slice(0, 200)}` });
      const c = await visibleConnection(id, scope, request);
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
}
