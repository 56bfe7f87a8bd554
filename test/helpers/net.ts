// Loopback plumbing for tests: a free port (for a server whose URL must be known before it starts, such as a
// callback URL registered with the sandbox), and listening on 127.0.0.1 with a close that ends keep-alive
// connections instead of waiting for them.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (bound, then released: another process may take it before it is used). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Listening {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (any free port unless given). */
export async function listen(server: Server, port = 0): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A plain node:http server on 127.0.0.1. */
export function serveHttp(listener: Parameters<typeof createServer>[1]): Promise<Listening> {
  return listen(createServer(listener));
}
