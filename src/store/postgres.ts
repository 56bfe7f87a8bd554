// The store for several instances: Postgres through `pg`. Typed against the few Pool methods it uses.

import pg from 'pg';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import { SqlStore } from './sql-store.js';

export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

export interface PgPoolLike extends PgQueryable {
  connect(): Promise<PgQueryable & { release(err?: Error | boolean): void }>;
  end(): Promise<void>;
}

export interface PostgresStoreOptions {
  /** A connection string, or a pool you own (then `schema` must already be on its search_path). */
  connection: string | PgPoolLike;
  /** Schema for the tables (default `public`); created if missing. */
  schema?: string;
  /** Pool size when the store makes the pool (default 10). */
  max?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Key of the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 0x6e630001;

/** `?` placeholders → `$1…`; the store's SQL has no `?` inside string literals. */
function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

function executor(q: PgQueryable): SqlExecutor {
  return {
    all: async <T>(sql: string, params?: readonly unknown[]) =>
      (await q.query(numbered(sql), params ? [...params] : [])).rows as T[],
    run: async (sql: string, params?: readonly unknown[]) =>
      (await q.query(numbered(sql), params ? [...params] : [])).rowCount ?? 0,
  };
}

class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly #pool: PgPoolLike;
  readonly #owned: boolean;
  readonly #schema: string;
  readonly #exec: SqlExecutor;

  constructor(pool: PgPoolLike, owned: boolean, schema: string) {
    this.#pool = pool;
    this.#owned = owned;
    this.#schema = schema;
    this.#exec = executor(pool);
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.#exec.all<T>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.#exec.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts: { durable?: boolean } = {}): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      if (opts.durable) await client.query('SET LOCAL synchronous_commit = on');
      const result = await fn(executor(client));
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
        client.release();
      } catch {
        client.release(true);
      }
      throw e;
    }
  }

  migrationLock<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.transaction(async (tx) => {
      await tx.run(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      if (this.#schema !== 'public') await tx.run(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
      return fn(tx);
    });
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}

/** int8 as a JS number: the store's timestamps are epoch milliseconds, well inside 2^53. */
const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (v: string) => Number(v);
    return (pg.types.getTypeParser as (o: number, f?: string) => unknown)(oid, format);
  },
};

export async function createPostgresStore(options: PostgresStoreOptions): Promise<SqlStore> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new TypeError('postgres schema must be a lowercase SQL identifier');
  let pool: PgPoolLike;
  let owned = false;
  if (typeof options.connection === 'string') {
    pool = new pg.Pool({
      connectionString: options.connection,
      max: options.max ?? 10,
      options: `-c search_path=${schema}`,
      types: typeParsers as never,
    }) as unknown as PgPoolLike;
    (pool as unknown as pg.Pool).on('error', () => {
      // An idle client lost its connection; the pool replaces it. Queries in flight see their own error.
    });
    owned = true;
  } else {
    pool = options.connection;
  }
  const store = new SqlStore(new PostgresDriver(pool, owned, schema));
  try {
    await store.migrate();
  } catch (e) {
    if (owned) await pool.end().catch(() => {});
    throw e;
  }
  return store;
}
