// Fastify 5 adapter: a plugin that routes the connect paths to the handler.

import type { ConnectHandler } from './handler.js';
import { type NodeRequestLike, toWebRequest } from './node.js';
import { badTargetResponse, isPlainTarget } from './target.js';

/** The part of a Fastify reply the plugin uses. */
export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  header(name: string, value: string | string[]): FastifyReplyLike;
  send(payload?: unknown): unknown;
  callNotFound(): void;
}

/** The part of an (encapsulated) Fastify instance the plugin uses. */
export interface FastifyScopeLike {
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    contentType: string,
    parser: (request: unknown, payload: unknown, done: (err: Error | null, body?: unknown) => void) => void,
  ): unknown;
  route(opts: {
    method: string[];
    url: string;
    handler: (request: { raw: NodeRequestLike }, reply: FastifyReplyLike) => Promise<unknown>;
  }): unknown;
}

/** The part of a Fastify instance the plugin uses. */
export interface FastifyLike {
  register(plugin: (scope: FastifyScopeLike, opts: Record<string, unknown>) => Promise<void>): unknown;
}

/**
 * Registers `<basePath>/*` (default `/connect/*`) in its own encapsulated scope. Fastify would otherwise parse
 * request bodies first and answer 415 itself for a content type it has no parser for, so a form POST to the
 * callback would never get the handler's 405 (C5); in this scope every content type is accepted unparsed and
 * the handler reads the raw body only if it needs it. The app's own parsers elsewhere are untouched.
 *
 * @example
 * ```ts
 * import { registerConnectRoutes } from 'noon-connect/http/fastify';
 *
 * registerConnectRoutes(app, handler); // handler from createConnectHandler()
 * ```
 */
export function registerConnectRoutes(
  app: FastifyLike,
  handler: ConnectHandler,
  basePath = '/connect',
): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    scope.route({
      method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'],
      url: `${basePath.replace(/\/+$/, '')}/*`,
      handler: async (request, reply) => {
        // H5: a target that is not a plain absolute path (`//…`, `\`, dot segments) is refused, not routed.
        const r = isPlainTarget(request.raw.url ?? '/')
          ? await handler(await toWebRequest(request.raw))
          : badTargetResponse();
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
  });
}
