// Fastify 5 adapter: a plugin that routes the connect paths to the handler.

import type { ConnectHandler } from './handler.js';
import { toWebRequest } from './node.js';

/** The part of a Fastify instance the plugin uses. */
export interface FastifyLike {
  route(opts: {
    method: string[];
    url: string;
    handler: (
      request: { raw: import('node:http').IncomingMessage },
      reply: FastifyReplyLike,
    ) => Promise<unknown>;
  }): unknown;
}

export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  header(name: string, value: string | string[]): FastifyReplyLike;
  send(payload?: unknown): unknown;
  callNotFound(): void;
}

/** Registers `<basePath>/*` (default `/connect/*`). */
export function registerConnectRoutes(
  app: FastifyLike,
  handler: ConnectHandler,
  basePath = '/connect',
): void {
  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'],
    url: `${basePath.replace(/\/+$/, '')}/*`,
    handler: async (request, reply) => {
      const r = await handler(await toWebRequest(request.raw));
      if (!r) {
        reply.callNotFound();
        return reply;
      }
      reply.code(r.status);
      r.headers.forEach((v, k) => {
        if (k !== 'set-cookie') reply.header(k, v);
      });
      const cookies = r.headers.getSetCookie();
      if (cookies.length > 0) reply.header('set-cookie', cookies);
      return reply.send(r.body ? Buffer.from(await r.arrayBuffer()) : undefined);
    },
  });
}
