// The ready-to-run service (`createService`, as `noon-connect serve` starts it) in a process of its own for
// bench/_proxy-path.ts, controlled over IPC: production mode on loopback, SQLite, a random master key, the
// configured API token, JSON logs at the default level (info), against a sandbox started by the parent.

import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { devNull, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyFile } from '../src/client/index.js';
import { createService, parseConfig, type Service, StartupError } from '../src/service/index.js';
import { type ChildMsg, serveParent } from './_child.js';
import { adminPost, loopback } from './_flow.js';

let service: Service | undefined;
let dir: string | undefined;

/** A free port on 127.0.0.1 (the public URL, and so the callback URL, must be known before the service starts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * Starts the service against the sandbox at `sandboxUrl`: writes the integrator's key file (0600), registers an
 * OAuth client for the service's callback URL, and answers with the service's URL and the client's id.
 */
async function start(a: {
  sandboxUrl: string;
  key: KeyFile;
  apiToken: string;
  userAgent: string;
}): Promise<{ url: string; clientId: string }> {
  dir = mkdtempSync(join(tmpdir(), 'nc-bench-service-'));
  const keyFile = join(dir, 'integrator-key.json');
  writeFileSync(keyFile, JSON.stringify(a.key), { mode: 0o600 });
  let lastError: unknown;
  // Another process may take the probed port before the service listens on it: a few tries.
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const client = await adminPost(
      loopback(a.sandboxUrl),
      '/_sandbox/clients',
      { name: 'Bench Service', redirect_uris: [`${url}/connect/callback`] },
      a.userAgent,
    );
    const config = parseConfig({
      NOON_CONNECT_MODE: 'production',
      NOON_CONNECT_HOST: '127.0.0.1',
      NOON_CONNECT_PORT: String(port),
      NOON_CONNECT_PUBLIC_URL: url,
      NOON_ENV: 'local',
      NOON_LOCAL_URL: a.sandboxUrl,
      NOON_CLIENT_ID: client.client_id,
      NOON_CLIENT_SECRET: client.client_secret,
      NOON_KEY_FILE: keyFile,
      NOON_CONNECT_STORE: `sqlite:${join(dir, 'connect.db')}`,
      NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
      NOON_CONNECT_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
      NOON_CONNECT_API_TOKEN: a.apiToken,
      NOON_CONNECT_LOG: 'json',
    });
    try {
      service = await createService(config, {
        // Every log line is still made and written (to the null device, not the bench's output).
        logDestination: createWriteStream(devNull),
        // The scheduled health checks would log sellers in again in the middle of a run: off.
        startScheduler: false,
      });
      return { url: service.url, clientId: client.client_id };
    } catch (e) {
      lastError = e;
      if (!(e instanceof StartupError && e.code === 'LISTEN')) break;
    }
  }
  throw lastError;
}

async function handle(m: ChildMsg): Promise<unknown> {
  switch (m.op) {
    case 'start':
      return start(m.args);
    case 'cpu':
      return process.cpuUsage();
    case 'close':
      await service?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

serveParent(handle);
