// A whole connector service for tests: a sandbox, an OAuth client registered with the service's callback URL,
// the integrator key file, a fresh store and master key, and `createService` listening on a free loopback port.
// The sandbox's clock drives the service's clock, so a test advances time with `sb.clock.advance(ms)`.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/index.js';
import {
  createService,
  parseConfig,
  type Service,
  type ServiceDeps,
  StartupError,
} from '../../src/service/index.js';
import { startSandbox } from './sandbox.js';
import { freshSchemaName, PG_URL, tempDir } from './stores.js';

export interface ServiceStack {
  sb: Sandbox;
  service: Service;
  /** The service's origin, e.g. http://127.0.0.1:PORT (also its public URL). */
  url: string;
  /** The dashboard sign-in token (undefined when the environment left it out, as dev may). */
  adminToken: string | undefined;
  /** The REST API bearer token (undefined when the environment left it out, as dev may). */
  apiToken: string | undefined;
  clientId: string;
  clientSecret: string;
  /** The master key (base64) the service's vault uses. */
  masterKey: string;
  /** The environment the service was configured from (secrets included: for secret searches). */
  env: Record<string, string | undefined>;
  /** Every log line the service wrote (pino JSON unless NOON_CONNECT_LOG says otherwise). */
  logs: string[];
  /** The folder holding the SQLite store (and anything else the test wants to keep beside it). */
  dataDir: string;
  close(): Promise<void>;
}

export interface ServiceStackOptions {
  /** Environment overrides; a key set to undefined removes the default (e.g. the admin token in dev). */
  env?: Record<string, string | undefined>;
  /** Service deps; `clock` defaults to the sandbox's clock, `logDestination` to the captured `logs`. */
  deps?: ServiceDeps;
  /** Options for a new sandbox. */
  sandbox?: SandboxOptions;
  /** Reuse a running sandbox (it is not closed with the stack). */
  sandboxInstance?: Sandbox;
  /** The store: SQLite in a temp folder (default) or a fresh Postgres schema (the caller checks availability). */
  store?: 'sqlite' | 'postgres';
  /**
   * The host name in the public URL (default 127.0.0.1; the service still binds 127.0.0.1). `localhost` puts the
   * service on another site than the sandbox, so a browser treats the trip through noon as cross-site.
   */
  publicHost?: string;
}

/** A free TCP port on 127.0.0.1 (the service's port is part of its callback URL, so it is chosen first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A token long enough for the config's 24-character minimum. */
export function randomToken(prefix: string): string {
  return `${prefix}-${randomBytes(24).toString('base64url')}`;
}

export async function startServiceStack(o: ServiceStackOptions = {}): Promise<ServiceStack> {
  const sb = o.sandboxInstance ?? (await startSandbox(o.sandbox));
  const dataDir = tempDir('nc-service-');
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(line);
      done();
    },
  });
  let dropSchema: () => Promise<void> = async () => {};
  let storeUrl = `sqlite:${join(dataDir, 'connect.db')}`;
  if (o.store === 'postgres') {
    const schema = freshSchemaName();
    const u = new URL(PG_URL);
    u.searchParams.set('schema', schema);
    storeUrl = u.toString();
    dropSchema = async () => {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    };
  }
  const masterKey = randomBytes(32).toString('base64');
  const keyFile = sb.fixtures.integrator.keyFile;
  if (!keyFile) throw new Error('the sandbox wrote no integrator key file');

  // Another process may take the free port between the probe and the listen: try a few ports.
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const url = `http://${o.publicHost ?? '127.0.0.1'}:${port}`;
    const client = sb.addClient({
      client_id: `svc-${randomBytes(4).toString('hex')}`,
      name: 'Test Connect Service',
      redirect_uris: [`${url}/connect/callback`],
    });
    const env: Record<string, string | undefined> = {
      NOON_CONNECT_MODE: 'production',
      NOON_CONNECT_HOST: '127.0.0.1',
      NOON_CONNECT_PORT: String(port),
      NOON_CONNECT_PUBLIC_URL: url,
      NOON_ENV: 'local',
      NOON_LOCAL_URL: sb.url,
      NOON_CLIENT_ID: client.clientId,
      NOON_CLIENT_SECRET: client.clientSecret,
      NOON_KEY_FILE: keyFile,
      NOON_CONNECT_STORE: storeUrl,
      NOON_CONNECT_MASTER_KEY: masterKey,
      NOON_CONNECT_ADMIN_TOKEN: randomToken('admin'),
      NOON_CONNECT_API_TOKEN: randomToken('api'),
      NOON_CONNECT_LOG: 'json',
      NOON_CONNECT_LOG_LEVEL: 'debug',
      ...o.env,
    };
    const config = parseConfig(env);
    let service: Service;
    try {
      service = await createService(config, {
        clock: { now: () => sb.clock.now() },
        logDestination,
        ...o.deps,
      });
    } catch (e) {
      lastError = e;
      if (e instanceof StartupError && e.code === 'LISTEN') continue;
      if (!o.sandboxInstance) await sb.close();
      await dropSchema().catch(() => {});
      throw e;
    }
    return {
      sb,
      service,
      url: o.publicHost ? url : service.url,
      adminToken: config.adminToken,
      apiToken: config.apiToken,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      masterKey,
      env,
      logs,
      dataDir,
      async close() {
        await service.close();
        await dropSchema().catch(() => {});
        if (!o.sandboxInstance) await sb.close();
      },
    };
  }
  if (!o.sandboxInstance) await sb.close();
  throw lastError;
}
