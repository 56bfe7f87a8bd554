// Hono 4 adapter: a middleware; Hono already speaks Request → Response.

import type { ConnectHandler } from './handler.js';
import { requestTargetOf } from './node.js';
import { badTargetResponse, isPlainTarget } from './target.js';

/** The part of a Hono context the middleware uses. */
export interface HonoContextLike {
  req: { raw: Request };
  /** On `@hono/node-server`, the node request, whose target is the one the client sent. */
  env?: unknown;
}

/**
 * The request target as the client sent it when the server kept it (`@hono/node-server`'s node request, or a
 * request made by this package's `toWebRequest`), else the one the request's URL carries.
 */
function targetOf(c: HonoContextLike): string {
  const incoming = (c.env as { incoming?: { url?: unknown } } | undefined)?.incoming;
  if (typeof incoming?.url === 'string') return incoming.url;
  const kept = requestTargetOf(c.req.raw);
  if (kept !== undefined) return kept;
  const u = new URL(c.req.raw.url);
  return `${u.pathname}${u.search}`;
}

/**
 * A Hono 4 middleware that answers the connect paths and calls `next()` for everything else.
 *
 * @example
 * ```ts
 * import { honoConnect } from 'noon-connect/http/hono';
 *
 * app.use('/connect/*', honoConnect(handler)); // handler from createConnectHandler()
 * ```
 */
export function honoConnect(handler: ConnectHandler) {
  return async (c: HonoContextLike, next: () => Promise<void>): Promise<Response | undefined> => {
    // H5: a target that is not a plain absolute path (`//…`, `\`, dot segments) is refused, not routed.
    if (!isPlainTarget(targetOf(c))) return badTargetResponse();
    const r = await handler(c.req.raw);
    if (r) return r;
    await next();
    return undefined;
  };
}
