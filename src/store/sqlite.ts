// The embedded default store: SQLite through node:sqlite where Node.js has it, else better-sqlite3 (WAL; commits
// that hold a key are flushed to disk before the caller goes on). Typed against the few methods it uses, so any compatible binding fits.

import { open } from 'node:fs/promises';
import { causeText, StoreError } from './errors.js';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import { SqlStore } from './sql-store.js';
import {
  createDatabaseFile,
  openSqliteDatabase,
  type SqliteDatabase,
  type SqliteDriverName,
  type SqliteStatement,
} from './sqlite-binding.js';

export type { SqliteDatabase, SqliteDriverName, SqliteStatement };

export interface SqliteStoreOptions {
  /** A database file path (created with its folder if missing), or an open database. */
  database: string | SqliteDatabase;
  /** Milliseconds to wait for another process's write lock (default 10 s). */
  busyTimeoutMs?: number;
  /** The binding for a path (default: `node:sqlite` where this Node.js has it, else better-sqlite3). */
  driver?: SqliteDriverName;
}

/** Serialises top-level operations so no query joins another caller's open transaction. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = 0;
  /** Nothing queued or running: a synchronous step may run at once without joining anyone's transaction. */
  get idle(): boolean {
    return this.#held === 0;
  }
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.#held++;
    const result = this.#tail.then(fn, fn);
    this.#tail = result.then(
      () => {
        this.#held--;
      },
      () => {
        this.#held--;
      },
    );
    return result;
  }
}

/** A synchronous step's result (or throw) as a settled promise. */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

function toParams(params: readonly unknown[] | undefined): unknown[] {
  return (params ?? []).map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : p));
}

/** Flushes a file to disk on libuv's thread pool: the event loop keeps serving while the disk works. */
async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly #db: SqliteDatabase;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #mutex = new Mutex();
  readonly #exec: SqlExecutor;
  /** The WAL file of a database this driver opened by path; durable commits flush it off the event loop. */
  readonly #walPath: string | undefined;

  constructor(db: SqliteDatabase, walPath?: string) {
    this.#db = db;
    this.#walPath = walPath;
    this.#exec = {
      all: <T>(sql: string, params?: readonly unknown[]) => settled(() => this.#all<T>(sql, params)),
      run: (sql: string, params?: readonly unknown[]) => settled(() => this.#run(sql, params)),
    };
  }

  #statement(sql: string): SqliteStatement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      if (this.#statements.size > 500) this.#statements.clear();
      this.#statements.set(sql, st);
    }
    return st;
  }

  // A single statement outside any transaction runs at once when nothing is queued (the common case): the
  // binding is synchronous, so it cannot interleave with anyone; otherwise it waits its turn.
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    if (this.#mutex.idle) return settled(() => this.#all<T>(sql, params));
    return this.#mutex.run(async () => this.#all<T>(sql, params));
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    if (this.#mutex.idle) return settled(() => this.#run(sql, params));
    return this.#mutex.run(async () => this.#run(sql, params));
  }

  #all<T>(sql: string, params?: readonly unknown[]): T[] {
    return this.#statement(sql).all(...toParams(params)) as T[];
  }

  #run(sql: string, params?: readonly unknown[]): number {
    const st = this.#statement(sql);
    // RETURNING statements are readers; run them with all() so their rows are consumed.
    if (st.reader) return st.all(...toParams(params)).length;
    return st.run(...toParams(params)).changes;
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts: { durable?: boolean } = {}): Promise<T> {
    const wal = this.#walPath;
    if (opts.durable && wal !== undefined) {
      // What synchronous=FULL does in WAL mode (the WAL synced after the commit is written), without blocking
      // the event loop for the disk: the commit is written at NORMAL, then the WAL file is flushed on the thread
      // pool before the caller goes on. fsync flushes the file whichever descriptor wrote it; frames a
      // checkpoint moved meanwhile were synced by that checkpoint (WAL syncs before, database after).
      return this.transaction(fn).then(async (result) => {
        await fsyncFile(wal);
        return result;
      });
    }
    return this.#mutex.run(async () => {
      if (opts.durable) this.#db.pragma('synchronous = FULL');
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#exec);
        this.#db.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw e;
      } finally {
        if (opts.durable) this.#db.pragma('synchronous = NORMAL');
      }
    });
  }

  scrub(): Promise<void> {
    // secure_delete (set at open) zeroed the freed content in the new page versions; a checkpoint writes those
    // over the old ones in the database file, and TRUNCATE empties the WAL that still held the old pages.
    return this.#mutex.run(async () => {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  migrationLock<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // BEGIN IMMEDIATE takes SQLite's write lock: a second process starting at once waits (busy_timeout).
    return this.transaction(fn);
  }

  async close(): Promise<void> {
    await this.#mutex.run(async () => {
      this.#db.close();
    });
  }
}

/** Opens (creating it and its folder if missing) a SQLite file with the store's settings: WAL, busy timeout. */
export function openSqlite(
  path: string,
  busyTimeoutMs = 10_000,
  options: { driver?: SqliteDriverName } = {},
): SqliteDatabase {
  createDatabaseFile(path);
  const db = openSqliteDatabase(path, options);
  try {
    db.pragma(`busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Deleted content (a raw exchange answer once its key is stored elsewhere) is overwritten, not left behind.
    db.pragma('secure_delete = ON');
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** Opens (creating if needed) a SQLite store and applies migrations. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqlStore> {
  const path = typeof options.database === 'string' ? options.database : undefined;
  let db: SqliteDatabase;
  try {
    db =
      path !== undefined
        ? openSqlite(path, options.busyTimeoutMs, options.driver ? { driver: options.driver } : {})
        : (options.database as SqliteDatabase);
  } catch (e) {
    throw openFailure(e, path);
  }
  // A database opened here by path is in WAL mode with its WAL beside it; an open database passed in keeps
  // synchronous=FULL for its durable commits (its file and mode are the caller's).
  const store = new SqlStore(new SqliteDriver(db, walPathOf(path)));
  try {
    await store.migrate();
  } catch (e) {
    if (path !== undefined) await store.close().catch(() => {});
    throw openFailure(e, path);
  }
  return store;
}

function walPathOf(path: string | undefined): string | undefined {
  if (path === undefined || path === ':memory:' || path === '' || path.startsWith('file:')) return undefined;
  return `${path}-wal`;
}

/** A missing driver says so itself; anything else is the SQLite (or file system) message with the path. */
function openFailure(e: unknown, path: string | undefined): StoreError {
  if (e instanceof StoreError) return e;
  const where = path === undefined ? 'SQLite' : `SQLite at ${path}`;
  return new StoreError('OPEN_FAILED', `${where}: ${causeText(e)}`, { cause: e });
}
