// Express 5 adapter: a middleware that answers the connect paths and passes everything else on.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectHandler } from './handler.js';
import { sendWebResponse, toWebRequest } from './node.js';

export function connectMiddleware(handler: ConnectHandler) {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    toWebRequest(req)
      .then(handler)
      .then((r) => (r ? sendWebResponse(res, r) : next()))
      .catch(next);
  };
}
