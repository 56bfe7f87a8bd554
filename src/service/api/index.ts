// The REST API for the integrator's own backend (bearer token): list and read connections, make connect links,
// rotate, disconnect and health-check connections, and call Noon as a connected seller. See docs/service-api.md.
// This file is the pipeline every call goes through: route, authentication, method, operation, error mapping.

import { NoonError } from '../../client/index.js';
import { ConnectError } from '../../connect/index.js';
import { requestPath } from '../../http/node.js';
import { openApiDocument } from '../openapi.js';
import type { RouteHandler, ServiceContext } from '../service.js';
import { apiActions } from './actions.js';
import { auditNoteOf } from './audit-note.js';
import { ApiError, errorResponse, jsonResponse } from './http.js';
import { isApiPath, matchRoute, methodNotAllowed, OPENAPI_PATH, ROUTE_METHODS } from './routes.js';
import { bearerAuth, principalOf } from './security.js';
import { tokenActions } from './token-actions.js';

/** The calls the audit log records (reads are not recorded). */
const AUDITED: ReadonlySet<string> = new Set([
  'links',
  'rotate',
  'disconnect',
  'health-check',
  'proxy',
  'tokens-create',
  'tokens-revoke',
]);

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

/** The handler of every `/api` path; other paths answer undefined (left to the next handler). */
export function createApiHandler(ctx: ServiceContext): RouteHandler {
  const authenticate = bearerAuth(ctx.config, ctx.access, ctx.tokens, {
    limits: ctx.limits,
    clientAddress: ctx.clientAddress,
  });
  const openapi = openApiDocument({ serverUrl: ctx.config.publicUrl });
  const actions = { ...apiActions(ctx), ...tokenActions(ctx) };

  /** One audit record per audited call, whatever its outcome (a refusal included), after it was answered. */
  const audit = async (request: Request, route: { name: string; id: string }, status: number) => {
    const p = principalOf(request);
    if (!p || !AUDITED.has(route.name)) return;
    const note = auditNoteOf(request);
    const connectionId = route.name.startsWith('tokens-') ? null : route.id || null;
    let tenant = note?.tenant ?? p.tenant ?? null;
    if (tenant === null && connectionId) {
      // The operation's own read of the connection when it made one, else one read here.
      tenant =
        note?.connectionTenant !== undefined
          ? note.connectionTenant
          : ((await ctx.store.getConnection(connectionId).catch(() => undefined))?.tenant ?? null);
    }
    await ctx.audit({
      actor: p.actor,
      action: route.name,
      tenant,
      connectionId,
      outcome: String(status),
      detail: note?.detail ?? null,
    });
  };

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

  return async (request) => {
    const path = requestPath(request);
    if (!isApiPath(path)) return undefined;
    const url = new URL(request.url);
    let routeName = 'unmatched';
    let matched: { name: string; id: string } | undefined;
    let response: Response;
    try {
      if (path === OPENAPI_PATH) {
        routeName = 'openapi';
        if (request.method !== 'GET') throw methodNotAllowed('GET');
        return jsonResponse(200, openapi);
      }
      // Authentication comes before anything else is judged, so an anonymous caller learns nothing more.
      const denied = await authenticate(request);
      if (denied) return errorResponse(denied);
      const route = matchRoute(path, request.method);
      if (!route) throw new ApiError(404, 'NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}`);
      routeName = route.name;
      if (request.method !== ROUTE_METHODS[route.name]) throw methodNotAllowed(ROUTE_METHODS[route.name]);
      matched = route;
      response = await actions[route.name](request, url, route.id);
    } catch (e) {
      const err = toApiError(e, routeName);
      if (err.status >= 500)
        ctx.logger.warn({ route: routeName, status: err.status, code: err.code }, 'api call failed');
      response = errorResponse(err);
    }
    if (matched) await audit(request, matched, response.status);
    return response;
  };
}
