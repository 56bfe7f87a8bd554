// Express 5 adapter: a middleware that answers the connect paths and passes everything else on.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectHandler } from './handler.js';
import { sendWebResponse, toWebRequest } from './node.js';
import { badTargetResponse, isPlainTarget } from './target.js';

/**
 * An Express 5 middleware that answers the connect paths and calls `next()` for everything else. Mounted under
 * a path or not, the handler sees the full original URL.
 *
 * @example
 * ```ts
 * import { connectMiddleware } from 'noon-connect/http/express';
 *
 * app.use(connectMiddleware(handler)); // handler from createConnectHandler()
 * ```
 */
export function connectMiddleware(handler: ConnectHandler) {
  return (
    req: IncomingMessage & { originalUrl?: string },
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void => {
    // Express strips the mount path from `req.url` in `app.use('/connect', …)`; the handler matches full paths.
    const target = req.originalUrl ?? req.url ?? '/';
    // H5: a target that is not a plain absolute path (`//…`, `\`, dot segments) is refused, not routed.
    if (!isPlainTarget(target)) {
      sendWebResponse(res, badTargetResponse()).catch(next);
      return;
    }
    toWebRequest(req, undefined, target)
      .then(handler)
      .then((r) => (r ? sendWebResponse(res, r) : next()))
      .catch(next);
  };
}
