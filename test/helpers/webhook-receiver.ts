// A webhook receiver for tests: a node:http server on 127.0.0.1 that records every POST (headers and raw body)
// and answers with a status the test sets (e.g. 503 while it is "down"), optionally after a delay. It can also
// be started later on a port reserved in advance, so a sender first meets a refused connection.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  at: number;
  path: string;
  headers: Record<string, string>;
  body: string;
  answered: number;
}

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  /** Status for the next requests (default 200). */
  status: number;
  /** Delay before answering, in ms (default 0). */
  delayMs: number;
  /** Starts listening (on the reserved port) if not yet listening. */
  listen(): Promise<void>;
  close(): Promise<void>;
}

/** A free loopback port: bound once, then released. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function createReceiver(o: { listen?: boolean; path?: string } = {}): Promise<Receiver> {
  const port = await freePort();
  const path = o.path ?? '/hooks/noon-connect';
  let server: Server | undefined;
  const r: Receiver = {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    received: [],
    status: 200,
    delayMs: 0,
    async listen() {
      if (server) return;
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
          const answered = r.status;
          const answer = () => {
            r.received.push({
              at: Date.now(),
              path: req.url ?? '',
              headers,
              body: Buffer.concat(chunks).toString('utf8'),
              answered,
            });
            res.writeHead(answered, { 'content-type': 'text/plain' });
            res.end(answered < 300 ? 'ok' : 'not now');
          };
          if (r.delayMs > 0) setTimeout(answer, r.delayMs);
          else answer();
        });
      });
      const s = server;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
    },
    async close() {
      if (!server) return;
      const s = server;
      server = undefined;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeAllConnections();
      await closed;
    },
  };
  if (o.listen ?? true) await r.listen();
  return r;
}
