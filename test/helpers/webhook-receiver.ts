// A webhook receiver for tests: a node:http server on 127.0.0.1 that records every POST (headers and raw body)
// and answers with a status the test sets (e.g. 503 while it is "down"), optionally after a delay. It can also
// be started later on a port reserved in advance, so a sender first meets a refused connection.

import { createServer } from 'node:http';
import { freePort, type Listening, listen } from './net.js';

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

export async function createReceiver(o: { listen?: boolean; path?: string } = {}): Promise<Receiver> {
  const port = await freePort();
  const path = o.path ?? '/hooks/noon-connect';
  let server: Listening | undefined;
  const r: Receiver = {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    received: [],
    status: 200,
    delayMs: 0,
    async listen() {
      if (server) return;
      const s = createServer((req, res) => {
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
      server = await listen(s, port);
    },
    async close() {
      const s = server;
      server = undefined;
      await s?.close();
    },
  };
  if (o.listen ?? true) await r.listen();
  return r;
}
