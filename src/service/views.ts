// The public shape of a connection, as the REST API answers it and the CLI's `--json` prints it: one
// serializer, snake_case field names, ISO 8601 times. Metadata only: never a key, a token or a sealed value (K7).

import { htmlResponse, notFoundPage, type OutcomeStatus, outcomePage } from '../http/index.js';
import type { Attempt, Connection, Credential } from '../store/index.js';
import { jsonResponse } from './api/http.js';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * The fields the public view is made from: a stored connection, or the connector's `ConnectionView` (which
 * leaves out the last health check's detail).
 */
export type ConnectionFields = { lastHealthDetail?: string | null } & Pick<
  Connection,
  | 'id'
  | 'tenant'
  | 'sellerProject'
  | 'status'
  | 'keyId'
  | 'channelIdentifier'
  | 'oauthRequestId'
  | 'createdAt'
  | 'connectedAt'
  | 'updatedAt'
  | 'lastHealthAt'
  | 'lastHealthOk'
>;

/** A connection as the REST API and the CLI show it (docs/service-api.md, `Connection`). */
export interface ConnectionJson {
  id: string;
  tenant: string;
  seller_project: string;
  status: Connection['status'];
  key_id: string | null;
  channel_identifier: string | null;
  oauth_request_id: string | null;
  created_at: string | null;
  connected_at: string | null;
  updated_at: string | null;
  last_health: { checked_at: string | null; ok: boolean; detail: string | null } | null;
}

/** What is shown of a connection: metadata only, never a key, token or anything sealed. */
export function connectionJson(c: ConnectionFields): ConnectionJson {
  return {
    id: c.id,
    tenant: c.tenant,
    seller_project: c.sellerProject,
    status: c.status,
    key_id: c.keyId,
    channel_identifier: c.channelIdentifier,
    oauth_request_id: c.oauthRequestId,
    created_at: iso(c.createdAt),
    connected_at: iso(c.connectedAt),
    updated_at: iso(c.updatedAt),
    last_health:
      c.lastHealthAt === null
        ? null
        : {
            checked_at: iso(c.lastHealthAt),
            ok: c.lastHealthOk === true,
            detail: c.lastHealthDetail ?? null,
          },
  };
}

/** A connection list, in the shape of `GET /api/connections`. */
export function connectionListJson(rows: readonly ConnectionFields[]): { connections: ConnectionJson[] } {
  return { connections: rows.map(connectionJson) };
}

/**
 * One connection with its keys (ids and states, never the keys) and recent attempts, for operators: the
 * connection's view plus `user_code`, `credentials` and `attempts`.
 */
export function connectionDetailJson(
  c: Connection,
  credentials: readonly Credential[],
  attempts: readonly Attempt[],
) {
  return {
    ...connectionJson(c),
    user_code: c.userCode,
    credentials: credentials.map((k) => ({
      id: k.id,
      key_id: k.keyId,
      channel_identifier: k.channelIdentifier,
      state: k.state,
      in_use: k.id === c.credentialId,
      created_at: iso(k.createdAt),
      removed_at: iso(k.removedAt),
    })),
    attempts: attempts.map((a) => ({
      id: a.id,
      kind: a.kind,
      status: a.status,
      error_code: a.errorCode,
      oauth_request_id: a.oauthRequestId,
      created_at: iso(a.createdAt),
      updated_at: iso(a.updatedAt),
    })),
  };
}

// --- The answer to a path nothing serves --------------------------------------------------------------

const STATUSES: readonly OutcomeStatus[] = [
  'connected',
  'already_connected',
  'denied',
  'expired',
  'failed',
  'pending',
  'link_used',
  'invalid_link',
  'unavailable',
];

/**
 * What the service answers for a path no part of it serves, in the one error shape of the REST API
 * (`{"error":{"code","message"}}`) — or, for a browser asking for a page, an HTML page with the way back. A return
 * path the connect flow sent the browser to (`?connect_status=…`) belongs to the integrator's app; when the
 * service itself receives it (dev: the app is not in front of it), the page says what happened and links to the
 * dashboard instead of a bare 404.
 */
export function notFoundResponse(request: Request): Response {
  const wantsPage = request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
  if (!wantsPage)
    return jsonResponse(404, { error: { code: 'NOT_FOUND', message: 'no such route' } }, SECURITY_HEADERS);
  const url = new URL(request.url);
  const status = url.searchParams.get('connect_status') as OutcomeStatus | null;
  if (status && STATUSES.includes(status)) {
    const page = outcomePage(status);
    page.lines.push(
      `Your app's page ${url.pathname} takes over from here; this service has no page there, so here is the way back.`,
    );
    page.link = { href: '/', label: 'Go to the dashboard' };
    return htmlResponse(200, page);
  }
  return htmlResponse(404, notFoundPage());
}

/** A fault of the service itself, in the REST API's error shape. */
export function internalErrorResponse(): Response {
  return jsonResponse(500, { error: { code: 'INTERNAL', message: 'internal error' } }, SECURITY_HEADERS);
}

const SECURITY_HEADERS: Record<string, string> = {
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
