// A tiny reverse proxy on loopback, configured the way a default nginx site is: it forwards to one upstream with
// `Host` rewritten to the upstream's `127.0.0.1:<port>`, appends `X-Forwarded-For`, and (when told which prefix
// it exposes) forwards only paths that start with it once repeated slashes are merged, passing the target on as
// received. To the service behind it every request comes from 127.0.0.1.

import { createServer, request as httpRequest } from 'node:http';
import { listen } from '../helpers/net.js';

export interface ReverseProxy {
  origin: string;
  /** Targets it forwarded, as received. */
  forwarded: string[];
  close(): Promise<void>;
}

export async function reverseProxy(upstream: string, o: { only?: string } = {}): Promise<ReverseProxy> {
  const up = new URL(upstream);
  const forwarded: string[] = [];
  const server = createServer((req, res) => {
    const target = req.url ?? '/';
    // nginx matches locations on the normalized path (merge_slashes on) and, with `proxy_pass http://up;`,
    // sends the original request target upstream.
    if (o.only && !target.replace(/\/{2,}/g, '/').startsWith(o.only)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not exposed');
      return;
    }
    forwarded.push(target);
    const headers = { ...req.headers };
    headers.host = `127.0.0.1:${up.port}`;
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress]
      .filter(Boolean)
      .join(', ');
    const out = httpRequest(
      { host: up.hostname, port: Number(up.port), method: req.method, path: target, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  const l = await listen(server);
  return { origin: `http://127.0.0.1:${l.port}`, forwarded, close: l.close };
}

/** One request written as given (the target is not normalized, as fetch would), with its answer. */
export async function rawAnswer(
  origin: string,
  target: string,
  o: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        host: u.hostname,
        port: Number(u.port),
        method: o.method ?? 'GET',
        path: target,
        headers: o.headers ?? {},
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () =>
          resolve({
            status: answer.statusCode ?? 0,
            headers: answer.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    r.on('error', reject);
    r.end();
  });
}
