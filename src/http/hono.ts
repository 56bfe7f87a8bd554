// Hono 4 adapter: a middleware; Hono already speaks Request → Response.

import type { ConnectHandler } from './handler.js';

/** The part of a Hono context the middleware uses. */
export interface HonoContextLike {
  req: { raw: Request };
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
    const r = await handler(c.req.raw);
    if (r) return r;
    await next();
    return undefined;
  };
}
