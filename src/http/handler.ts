// The connect endpoints on Web Request → Response: start (redirect to Noon's consent page, binding cookie set)
// and callback (the state machine's outcome as a redirect or a result page). Framework adapters wrap this.

import { type CallbackOutcome, ConnectError, type Connector } from '../connect/index.js';
import { requestPath } from './node.js';
import {
  htmlResponse,
  notFoundPage,
  outcomePage,
  PAGE_HEADERS,
  type PageContent,
  wayBack,
  withQuery,
} from './pages.js';
import { badTargetResponse } from './target.js';

/** Who is connecting, as `authorizeStart` decides it from the integrator's own authentication. */
export interface StartParams {
  /** The integrator's customer the connection belongs to. */
  tenant: string;
  /** Where the browser goes after the flow: a relative, allow-listed path (default `/`: a result page). */
  returnTo?: string;
  /** Reconnect this existing connection (same tenant) instead of making a new one. */
  connectionId?: string;
}

/** Options of {@link createConnectHandler}. */
export interface ConnectHandlerOptions {
  connector: Connector;
  /** Where the endpoints live (default `/connect`): `<base>/start`, `<base>/callback`, `<base>/done/<id>`. */
  basePath?: string;
  /**
   * Decides who is connecting, from the integrator's own authentication. Return the start parameters, or a
   * Response (e.g. 401) to refuse. Never take the tenant from an unauthenticated query string.
   */
  authorizeStart: (request: Request) => Promise<StartParams | Response> | StartParams | Response;
  /** Called for unexpected errors (the page shows none of it). */
  onError?: (error: unknown) => void;
}

/**
 * The connect endpoints as one function: a Web `Request` for one of its paths gets a `Response`; any other path
 * gets undefined, so the caller (or an adapter) passes it on.
 */
export type ConnectHandler = (request: Request) => Promise<Response | undefined>;

function redirect(location: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { location, ...PAGE_HEADERS, ...extra } });
}

const REJECTED: Record<string, string> = {
  'too-long': 'The link is too long.',
  method: 'This address only answers the redirect from noon.',
  'token-in-url': 'Tokens are never accepted in a URL.',
};

/**
 * The page for an outcome; connected outcomes redirect to a clean URL instead (C6). Every page offers the way
 * back: `returnTo` (the attempt's return path, when the outcome does not carry it), else `/`.
 */
export function outcomeResponse(o: CallbackOutcome, base: string, returnTo?: string): Response {
  const back = 'returnTo' in o ? o.returnTo : returnTo;
  switch (o.kind) {
    case 'connected':
      return redirect(
        o.returnTo === '/'
          ? `${base}/done/${o.attemptId}`
          : withQuery(o.returnTo, { connect_attempt: o.attemptId, connect_status: 'connected' }),
      );
    case 'rejected': {
      const extra: Record<string, string> = o.status === 405 ? { allow: 'GET' } : {};
      const detail = REJECTED[o.reason];
      return htmlResponse(o.status, outcomePage('invalid_link', detail ? { detail } : {}), extra);
    }
    case 'expired':
      return htmlResponse(400, outcomePage('expired', { returnTo: back, reference: o.attemptId }));
    case 'denied':
      return htmlResponse(200, outcomePage('denied', { returnTo: back }));
    case 'already_connected':
      return htmlResponse(
        200,
        outcomePage('already_connected', { returnTo: back, sellerProject: o.sellerProject }),
      );
    case 'failed': {
      const p: PageContent = outcomePage('failed', {
        returnTo: back,
        detail:
          o.code === 'DIFFERENT_PROJECT'
            ? 'This connection is for another noon project. Start again and choose the same project.'
            : o.reconnect
              ? 'Connecting to noon did not finish. Start the connection again.'
              : 'Connecting to noon did not finish. Our team has been alerted.',
      });
      if (o.code === 'DIFFERENT_PROJECT') p.title = 'You granted a different project';
      p.note = `Reference ${o.attemptId}${o.oauthRequestId ? ` · noon request ${o.oauthRequestId}` : ''} · ${o.code}`;
      return htmlResponse(o.reconnect ? 400 : 502, p);
    }
    case 'pending':
      // The orphan path (U8) may already have ended within the callback: say how, not "check back later".
      if (o.status === 'REPAIRED')
        return htmlResponse(200, outcomePage('connected', { returnTo: back, reference: o.attemptId }));
      if (o.status === 'NEEDS_RECONNECT')
        return htmlResponse(400, outcomePage('failed', { returnTo: back, reference: o.attemptId }));
      return htmlResponse(202, outcomePage('pending', { returnTo: back, reference: o.attemptId }));
    case 'unavailable':
      return htmlResponse(503, outcomePage('unavailable'));
  }
}

/** The return path of the attempt an outcome names, when the outcome does not carry it (never throws). */
async function returnPathOf(o: CallbackOutcome, connector: Connector): Promise<string | undefined> {
  if ('returnTo' in o) return o.returnTo;
  if (!('attemptId' in o)) return undefined;
  return (await connector.getAttempt(o.attemptId).catch(() => undefined))?.returnTo;
}

/**
 * Builds the connect endpoints on Web `Request` → `Response`: `<basePath>/start` (checks who is connecting,
 * sets the browser-binding cookie and redirects to Noon's consent page), `<basePath>/callback` (runs the
 * connector's state machine) and `<basePath>/done/<id>` (the result page). Any other path answers undefined.
 * Mount it with {@link toNodeListener} or an adapter (`noon-connect/http/express`, `/fastify`, `/hono`).
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { createConnectHandler, toNodeListener } from 'noon-connect/http';
 *
 * const handler = createConnectHandler({
 *   connector, // from createConnector()
 *   // Who is connecting comes from your own authentication, never from the query string.
 *   authorizeStart: async (req) => ({ tenant: await tenantOf(req), returnTo: '/settings/noon' }),
 * });
 * http.createServer(toNodeListener(handler)).listen(8787);
 * ```
 */
export function createConnectHandler(options: ConnectHandlerOptions): ConnectHandler {
  const { connector } = options;
  const base = (options.basePath ?? '/connect').replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9/_-]*$/.test(base)) throw new TypeError('basePath must be a plain absolute path');
  const onError = options.onError ?? (() => {});

  return async (request) => {
    let path: string;
    try {
      path = requestPath(request);
    } catch {
      return undefined;
    }
    // H5: `//…` is a host to URL resolution; whatever put it in the path, no route may be chosen from it.
    if (path.startsWith('//')) return badTargetResponse();
    try {
      if (path === `${base}/callback`) {
        const o = await connector.callback(request);
        return outcomeResponse(o, base, await returnPathOf(o, connector));
      }
      if (path === `${base}/start`) {
        if (request.method !== 'GET' && request.method !== 'POST')
          return htmlResponse(
            405,
            { title: 'Method not allowed', tone: 'bad', lines: [] },
            { allow: 'GET, POST' },
          );
        const params = await options.authorizeStart(request);
        if (params instanceof Response) return params;
        const r = await connector.start({ ...params, cookieHeader: request.headers.get('cookie') });
        return redirect(r.url, { 'set-cookie': r.setCookie });
      }
      if (path.startsWith(`${base}/done/`)) {
        const id = path.slice(base.length + '/done/'.length);
        const a = /^[0-9a-f-]{36}$/.test(id) ? await connector.getAttempt(id) : undefined;
        if (!a) return htmlResponse(404, { ...notFoundPage(), lines: ['No such connection attempt.'] });
        if (a.status === 'CONNECTED' || a.status === 'REPAIRED')
          return htmlResponse(
            200,
            outcomePage('connected', { returnTo: a.returnTo, sellerProject: a.sellerProject }),
          );
        return htmlResponse(
          200,
          outcomePage('failed', {
            returnTo: a.returnTo,
            detail: `This attempt ended as ${a.status.toLowerCase().replace(/_/g, ' ')}.`,
          }),
        );
      }
      return undefined;
    } catch (e) {
      if (
        e instanceof ConnectError &&
        (e.code === 'RETURN_PATH_REFUSED' ||
          e.code === 'INVALID_ARGUMENT' ||
          e.code === 'CONNECTION_NOT_FOUND')
      ) {
        return htmlResponse(400, {
          title: 'Cannot start the connection',
          tone: 'bad',
          lines: [e.message],
          link: wayBack(undefined, 'failed'),
        });
      }
      onError(e);
      return htmlResponse(500, {
        title: 'Something went wrong',
        tone: 'bad',
        lines: ['Nothing was connected. Try again in a moment.'],
        link: wayBack(undefined, 'failed'),
      });
    }
  };
}
