// The minimal shape the SQL store needs from a database: run, query, transaction. SQLite and Postgres each
// provide one; SQL is written once with `?` placeholders.

export interface SqlExecutor {
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one transaction. `durable`: the commit is flushed to disk before it returns (SQLite
   * synchronous=FULL, Postgres synchronous_commit=on), for commits that hold the only copy of a key.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts?: { durable?: boolean }): Promise<T>;
  /** Runs migration DDL under a lock that other processes starting at once also take. */
  migrationLock<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** Has the engine drop old copies of deleted rows it can reach (see `Store.scrub`). */
  scrub?(): Promise<void>;
}
