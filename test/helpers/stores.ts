// Stores for tests: a fresh SQLite file, or a fresh Postgres schema on the local server. Postgres tests run
// always in CI; elsewhere they are skipped (with one line saying how to enable them) when no server answers.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  createPostgresStore,
  createSqliteStore,
  defaultSqliteDriver,
  metaOf,
  type SqliteDriverName,
  type SqlStore,
} from '../../src/store/index.js';
import { LocalKeyProvider, Vault } from '../../src/vault/index.js';

export const PG_URL = process.env.NOON_CONNECT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The SQLite binding the tests open stores with. Each CI leg names the one it expects in
 * NOON_CONNECT_TEST_SQLITE_DRIVER (node:sqlite on Node.js 22 and 24, better-sqlite3 on 20), so a leg that would
 * silently test the other binding fails instead; unset, it is the one this Node.js picks by default.
 */
export const SQLITE_DRIVER: SqliteDriverName = (() => {
  const pinned = process.env.NOON_CONNECT_TEST_SQLITE_DRIVER;
  if (!pinned) return defaultSqliteDriver();
  if (pinned !== 'node:sqlite' && pinned !== 'better-sqlite3')
    throw new Error(`NOON_CONNECT_TEST_SQLITE_DRIVER must be node:sqlite or better-sqlite3, not ${pinned}`);
  return pinned;
})();

let pgAvailable: Promise<boolean> | undefined;

/** Whether the test Postgres answers; in CI a missing server is an error, not a skip. */
export function postgresAvailable(): Promise<boolean> {
  pgAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      if (process.env.CI)
        throw new Error(
          `Postgres tests must run in CI but ${PG_URL.replace(/\/\/[^@]*@/, '//')} does not answer`,
        );
      process.stderr.write(
        'Postgres tests skipped: no server at NOON_CONNECT_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test); start one or set the variable to enable them.\n',
      );
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgAvailable;
}

export function tempDir(prefix = 'nc-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function sqliteFile(): string {
  return join(tempDir('nc-sqlite-'), 'store.db');
}

export async function freshSqlite(): Promise<{ store: SqlStore; file: string }> {
  const file = sqliteFile();
  return { store: await createSqliteStore({ database: file, driver: SQLITE_DRIVER }), file };
}

export function freshSchemaName(): string {
  return `nc_t_${randomBytes(6).toString('hex')}`;
}

export async function freshPostgres(): Promise<{
  store: SqlStore;
  schema: string;
  drop: () => Promise<void>;
}> {
  const schema = freshSchemaName();
  const store = await createPostgresStore({ connection: PG_URL, schema, max: 8 });
  return {
    store,
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

export interface StoreTarget {
  name: 'sqlite' | 'postgres';
  /** Whether this target runs here. */
  available: () => Promise<boolean>;
  open: () => Promise<{ store: SqlStore; cleanup: () => Promise<void> }>;
}

export const STORE_TARGETS: StoreTarget[] = [
  {
    name: 'sqlite',
    available: async () => true,
    open: async () => {
      const { store } = await freshSqlite();
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'postgres',
    available: postgresAvailable,
    open: async () => {
      const { store, drop } = await freshPostgres();
      return {
        store,
        cleanup: async () => {
          await store.close();
          await drop();
        },
      };
    },
  },
];

export interface StoreWithVault {
  store: SqlStore;
  vault: Vault;
  masterKey: string;
  /** The SQLite file, for SQLite stores. */
  file: string | undefined;
  /** The Postgres schema, for Postgres stores. */
  schema: string | undefined;
  /** Drops the Postgres schema (after the store is closed); nothing for SQLite. */
  drop: () => Promise<void>;
}

/** A fresh store of the given kind and a vault on a fresh master key, fingerprinted in that store. */
export async function freshStoreWithVault(kind: 'sqlite' | 'postgres' = 'sqlite'): Promise<StoreWithVault> {
  let store: SqlStore;
  let file: string | undefined;
  let schema: string | undefined;
  let drop: () => Promise<void> = async () => {};
  if (kind === 'postgres') {
    const pg = await freshPostgres();
    ({ store, schema, drop } = pg);
  } else {
    ({ store, file } = await freshSqlite());
  }
  const masterKey = randomBytes(32).toString('base64');
  const vault = await Vault.open({
    provider: new LocalKeyProvider({ current: 'v1', keys: { v1: masterKey } }),
    meta: metaOf(store),
  });
  return { store, vault, masterKey, file, schema, drop };
}
