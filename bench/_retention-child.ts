// A server process for bench/retention.ts: the whole service (connect endpoints, reconciler with retention) on
// SQLite, controlled over IPC so the load generator runs in another process. It can seed old ended attempts
// straight into its database and run one reconciler pass (the purge) on request.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyFile } from '../src/sandbox/index.js';
import { createService, parseConfig, type Service } from '../src/service/index.js';
import { openSqliteDatabase } from '../src/store/index.js';
import { type ChildMsg, serveParent } from './_child.js';

type Msg = ChildMsg;

const dir = mkdtempSync(join(tmpdir(), 'nc-bench-retention-'));
const dbFile = join(dir, 'connect.db');
let port = 0;
let service: Service | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** `n` ended (FAILED) connect attempts last updated `ageDays` ago, in one transaction. */
function seed(n: number, ageDays: number): void {
  const db = openSqliteDatabase(dbFile);
  try {
    const at = Date.now() - ageDays * 86_400_000;
    const insert = db.prepare(
      `INSERT INTO nc_attempts (id, kind, tenant, state_hash, environment, return_to, status, created_at, expires_at,
         updated_at, consumed_at, error_code)
       VALUES (?, 'connect', 'bench-old', ?, 'local', '/', 'FAILED', ?, ?, ?, ?, 'STATE_EXPIRED')`,
    );
    db.exec('BEGIN');
    for (let i = 0; i < n; i++)
      insert.run(randomUUID(), randomBytes(32).toString('hex'), at, at + 600_000, at + i, at);
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

async function handle(m: Msg): Promise<unknown> {
  switch (m.op) {
    case 'port':
      port = await freePort();
      return { origin: `http://127.0.0.1:${port}` };
    case 'start': {
      const keyFile = join(dir, 'integrator-key.json');
      writeFileSync(keyFile, JSON.stringify(m.args.integratorKey as KeyFile), { mode: 0o600 });
      const config = parseConfig({
        NOON_CONNECT_MODE: 'production',
        NOON_CONNECT_HOST: '127.0.0.1',
        NOON_CONNECT_PORT: String(port),
        NOON_CONNECT_PUBLIC_URL: `http://127.0.0.1:${port}`,
        NOON_ENV: 'local',
        NOON_LOCAL_URL: m.args.sandboxUrl,
        NOON_CLIENT_ID: m.args.clientId,
        NOON_CLIENT_SECRET: m.args.clientSecret,
        NOON_KEY_FILE: keyFile,
        NOON_CONNECT_STORE: `sqlite:${dbFile}`,
        NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
        NOON_CONNECT_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
        NOON_CONNECT_API_TOKEN: randomBytes(24).toString('base64url'),
        NOON_CONNECT_START_LIMIT: '100000',
        // Only the pass this bench asks for runs during the measurement.
        NOON_CONNECT_RECONCILE_INTERVAL_MS: '3600000',
        NOON_CONNECT_LOG_LEVEL: 'error',
      });
      service = await createService(config);
      // The pass at start has run by the time a ping answers after it; let it finish before seeding.
      await service.reconcile();
      return {};
    }
    case 'links':
      return Array.from(
        { length: m.args.count },
        (_, i) => service!.context.links.create({ tenant: `bench-${m.args.tag}-${i}` }).url,
      );
    case 'seed':
      seed(m.args.count, m.args.ageDays);
      return { attempts: await service!.context.store.countAttempts(['FAILED']) };
    case 'purge': {
      const t0 = performance.now();
      await service!.reconcile();
      return {
        ms: performance.now() - t0,
        left: (await service!.context.store.listAttempts({ tenant: 'bench-old', limit: 1_000_000 })).length,
      };
    }
    case 'close':
      await service?.close();
      rmSync(dir, { recursive: true, force: true });
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

serveParent(handle);
