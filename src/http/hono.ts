// Hono 4 adapter: a middleware; Hono already speaks Request → Response.

import type { ConnectHandler } from './handler.js';

export interface HonoContextLike {
  req: { raw: Request };
}

export function honoConnect(handler: ConnectHandler) {
  return async (c: HonoContextLike, next: () => Promise<void>): Promise<Response | undefined> => {
    const r = await handler(c.req.raw);
    if (r) return r;
    await next();
    return undefined;
  };
}
