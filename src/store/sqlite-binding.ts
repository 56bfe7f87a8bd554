// Opens a SQLite database through the binding the running Node.js offers: the built-in `node:sqlite` (Node.js
// 22.13+ and 24) wherever it exists, else better-sqlite3, an optional peer for Node.js 20 that is loaded only
// then. Both are presented in one small shape (better-sqlite3's), so the store and its callers see no difference.

import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { StoreError } from './errors.js';

/** The part of a SQLite database the store uses (better-sqlite3's shape; `node:sqlite` is adapted to it). */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
  readonly inTransaction: boolean;
}

export interface SqliteStatement {
  /** Whether the statement returns rows (a SELECT, or a write with RETURNING). */
  readonly reader: boolean;
  run(...params: unknown[]): { changes: number };
  all(...params: unknown[]): unknown[];
}

/** `node:sqlite` is the built-in binding; `better-sqlite3` the package. */
export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

export interface OpenSqliteOptions {
  /** Which binding to use (default: `node:sqlite` where this Node.js has it, else better-sqlite3). */
  driver?: SqliteDriverName;
  /** Open an existing file for reading only. */
  readonly?: boolean;
}

// --- node:sqlite, typed by the few members used (the @types/node this package builds with predates it) -----

interface NodeStatement {
  run(...params: unknown[]): { changes: number | bigint };
  all(...params: unknown[]): unknown[];
  /** Node.js 22.16+ and 24. */
  columns?(): unknown[];
}

interface NodeDatabase {
  prepare(sql: string): NodeStatement;
  exec(sql: string): void;
  close(): void;
  /** Node.js 22.16+ and 24. */
  readonly isTransaction?: boolean;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => NodeDatabase;
}

let nodeSqlite: NodeSqliteModule | null | undefined;

function loadNodeSqlite(): NodeSqliteModule | null {
  if (nodeSqlite === undefined) {
    try {
      // getBuiltinModule returns undefined where the module does not exist (Node.js 20, or 22 before 22.13
      // without --experimental-sqlite), without the static import that would fail to link there.
      const m = process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined;
      nodeSqlite = typeof m?.DatabaseSync === 'function' ? m : null;
    } catch {
      nodeSqlite = null;
    }
  }
  return nodeSqlite;
}

/** A statement that returns rows; only consulted where `columns()` is missing (Node.js 22.13–22.15). */
const READER_SQL = /^\s*(SELECT|WITH|PRAGMA|VALUES)\b|\bRETURNING\b/i;

class NodeSqliteStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #st: NodeStatement;

  constructor(st: NodeStatement, sql: string) {
    this.#st = st;
    this.reader = st.columns ? st.columns().length > 0 : READER_SQL.test(sql);
  }

  run(...params: unknown[]): { changes: number } {
    return { changes: Number(this.#st.run(...params).changes) };
  }

  all(...params: unknown[]): unknown[] {
    return this.#st.all(...params);
  }
}

class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: NodeDatabase;
  /** Set by BEGIN/COMMIT/ROLLBACK run through exec, for Node.js versions without `isTransaction`. */
  #open = false;

  constructor(db: NodeDatabase) {
    this.#db = db;
  }

  get inTransaction(): boolean {
    return this.#db.isTransaction ?? this.#open;
  }

  prepare(sql: string): SqliteStatement {
    return new NodeSqliteStatement(this.#db.prepare(sql), sql);
  }

  exec(sql: string): void {
    this.#db.exec(sql);
    if (/^\s*BEGIN\b/i.test(sql)) this.#open = true;
    else if (/^\s*(COMMIT|END|ROLLBACK)\b/i.test(sql)) this.#open = false;
  }

  /** As better-sqlite3's: the rows a PRAGMA returns, or with `simple` the first column of the first row. */
  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const rows = this.#db.prepare(`PRAGMA ${source}`).all() as Record<string, unknown>[];
    if (!options.simple) return rows;
    const first = rows[0];
    return first === undefined ? undefined : Object.values(first)[0];
  }

  close(): void {
    this.#db.close();
  }
}

// --- better-sqlite3, the optional peer ----------------------------------------------------------------------

type BetterSqliteConstructor = new (
  path: string,
  options?: { readonly?: boolean; fileMustExist?: boolean },
) => SqliteDatabase;

let betterSqlite: BetterSqliteConstructor | undefined;

function loadBetterSqlite(): BetterSqliteConstructor {
  if (betterSqlite) return betterSqlite;
  try {
    // createRequire: the package is CommonJS, and a synchronous load keeps openSqlite synchronous.
    betterSqlite = createRequire(import.meta.url)('better-sqlite3') as BetterSqliteConstructor;
    return betterSqlite;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes("'better-sqlite3'"))
      throw new StoreError(
        'DRIVER_MISSING',
        `SQLite needs Node.js 22.13 or newer (built-in node:sqlite) or the better-sqlite3 package (npm install better-sqlite3@12); this is Node.js ${process.version}`,
        { cause: e },
      );
    // Most often an addon compiled for another Node.js (NODE_MODULE_VERSION …).
    throw new StoreError(
      'DRIVER_MISSING',
      `better-sqlite3 cannot load on Node.js ${process.version} (${firstLine(e)}): run npm rebuild better-sqlite3, or use Node.js 22.13 or newer`,
      { cause: e },
    );
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

/** The binding a SQLite store opened now would use (better-sqlite3 is not loaded to answer). */
export function defaultSqliteDriver(): SqliteDriverName {
  return loadNodeSqlite() ? 'node:sqlite' : 'better-sqlite3';
}

/** Opens a SQLite database file (or `:memory:`) as is: no folder is made and no PRAGMA is set. */
export function openSqliteDatabase(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  const driver = options.driver ?? defaultSqliteDriver();
  if (driver === 'node:sqlite') {
    const m = loadNodeSqlite();
    if (!m)
      throw new StoreError(
        'DRIVER_MISSING',
        `node:sqlite needs Node.js 22.13 or newer; this is Node.js ${process.version} (install better-sqlite3@12 and use it instead)`,
      );
    return new NodeSqliteDatabase(new m.DatabaseSync(path, options.readonly ? { readOnly: true } : {}));
  }
  const Database = loadBetterSqlite();
  return new Database(path, options.readonly ? { readonly: true, fileMustExist: true } : {});
}

/**
 * Creates a missing database file (and its folder) readable by this user only: the folder 0700, the file 0600.
 * SQLite gives its -wal, -shm and journal files the database file's mode, so they are 0600 as well. An
 * existing file keeps the mode it has.
 */
export function createDatabaseFile(path: string): void {
  if (path === ':memory:' || path.startsWith('file:')) return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch {
    // It exists (or cannot be made): SQLite opens it, or says in its own words why it cannot.
  }
}
