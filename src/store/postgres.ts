// The store for several instances: Postgres through `pg`, an optional peer loaded only when a Postgres store is
// made from a connection string. Typed against the few Pool methods it uses.

import { causeText, StoreError } from './errors.js';
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

/** The part of the `pg` module the store uses. */
interface PgModule {
  Pool: new (config: Record<string, unknown>) => PgPoolLike & { on(event: 'error', fn: () => void): unknown };
  types: { getTypeParser(oid: number, format?: string): unknown };
}

let pgModule: Promise<PgModule> | undefined;

function loadPg(): Promise<PgModule> {
  pgModule ??= import('pg').then(
    (m) => ((m as { default?: PgModule }).default ?? m) as PgModule,
    (e: unknown) => {
      pgModule = undefined;
      const missing =
        (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && causeText(e).includes("'pg'");
      throw new StoreError(
        'DRIVER_MISSING',
        missing
          ? 'a Postgres store needs the pg package: npm install pg@8'
          : `the pg package cannot load: ${causeText(e)}`,
        { cause: e },
      );
    },
  );
  return pgModule;
}

/** Where a connection string points, for messages: host, port and database, never the user or password. */
function describeTarget(connection: string): string {
  try {
    const u = new URL(connection);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'the configured server';
  }
}

export async function createPostgresStore(options: PostgresStoreOptions): Promise<SqlStore> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new TypeError('postgres schema must be a lowercase SQL identifier');
  let pool: PgPoolLike;
  let owned = false;
  if (typeof options.connection === 'string') {
    const pg = await loadPg();
    /** int8 as a JS number: the store's timestamps are epoch milliseconds, well inside 2^53. */
    const typeParsers = {
      getTypeParser(oid: number, format?: string) {
        if (oid === 20) return (v: string) => Number(v);
        return pg.types.getTypeParser(oid, format);
      },
    };
    const made = new pg.Pool({
      connectionString: options.connection,
      max: options.max ?? 10,
      options: `-c search_path=${schema}`,
      types: typeParsers,
    });
    made.on('error', () => {
      // An idle client lost its connection; the pool replaces it. Queries in flight see their own error.
    });
    pool = made;
    owned = true;
  } else {
    pool = options.connection;
  }
  const store = new SqlStore(new PostgresDriver(pool, owned, schema));
  try {
    await store.migrate();
  } catch (e) {
    if (owned) await pool.end().catch(() => {});
    const where =
      typeof options.connection === 'string'
        ? `Postgres at ${describeTarget(options.connection)}`
        : 'Postgres';
    // The server's own words (`database "x" does not exist`, `connect ECONNREFUSED …`) are the cause.
    throw new StoreError('OPEN_FAILED', `${where}: ${causeText(e)}`, { cause: e });
  }
  return store;
}
