// node:http adapter: IncomingMessage → Request, Response → ServerResponse.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectHandler } from './handler.js';

const MAX_BODY = 64 * 1024;

/** A Web Request for a node request; the body (if any) is read up to 64 KiB. */
export async function toWebRequest(req: IncomingMessage, origin = 'http://localhost'): Promise<Request> {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!;
    const v = req.rawHeaders[i + 1]!;
    try {
      headers.append(k, v);
    } catch {
      // A header Fetch refuses (invalid characters) is dropped, not fatal.
    }
  }
  const method = req.method ?? 'GET';
  let body: Uint8Array | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) break;
      chunks.push(c);
    }
    body = Buffer.concat(chunks);
  }
  return new Request(new URL(req.url ?? '/', origin), {
    method,
    headers,
    ...(body ? { body: body as BodyInit } : {}),
  });
}

/** Writes a Web Response to a node response. */
export async function sendWebResponse(res: ServerResponse, r: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  r.headers.forEach((v, k) => {
    if (k !== 'set-cookie') headers[k] = v;
  });
  const cookies = r.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  res.writeHead(r.status, headers);
  res.end(r.body ? Buffer.from(await r.arrayBuffer()) : undefined);
}

/**
 * A node:http request listener. Requests outside the handler's paths go to `fallback` (default: 404).
 */
export function toNodeListener(
  handler: ConnectHandler,
  fallback: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  },
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    // The request line's target is kept whole: the handler judges its length and characters (C4).
    toWebRequest(req)
      .then(handler)
      .then((r) => (r ? sendWebResponse(res, r) : fallback(req, res)))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end();
      });
  };
}
