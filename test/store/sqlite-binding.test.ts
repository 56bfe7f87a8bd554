// Which SQLite binding the store runs on: node:sqlite wherever this Node.js has it (even with better-sqlite3
// installed, as in this repository), better-sqlite3 only where it does not; both in the same shape and with the
// store's settings (WAL, busy timeout, synchronous=FULL around the commits that hold a key).

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createSqliteStore,
  defaultSqliteDriver,
  openSqlite,
  openSqliteDatabase,
  type SqliteDatabase,
  StoreError,
} from '../../src/store/index.js';
import { SQLITE_DRIVER, sqliteFile, tempDir } from '../helpers/stores.js';

const builtin = (() => {
  try {
    return typeof process.getBuiltinModule?.('node:sqlite') === 'object';
  } catch {
    return false;
  }
})();

/** Whether the better-sqlite3 addon is mapped into this process (Linux), whoever loaded it. */
function betterSqliteLoaded(): boolean {
  return readFileSync('/proc/self/maps', 'utf8').includes('better_sqlite3.node');
}

/** An open database that records every PRAGMA and BEGIN/COMMIT/ROLLBACK the store sends, in order. */
function recording(db: SqliteDatabase): { db: SqliteDatabase; log: string[] } {
  const log: string[] = [];
  const spy: SqliteDatabase = {
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => {
      log.push(sql.trim().split(/\s+/)[0]!.toUpperCase());
      return db.exec(sql);
    },
    pragma: (source, options) => {
      log.push(`PRAGMA ${source}`);
      return db.pragma(source, options);
    },
    close: () => db.close(),
    get inTransaction() {
      return db.inTransaction;
    },
  };
  return { db: spy, log };
}

describe('SQLite binding', () => {
  it('node:sqlite is the default wherever this Node.js has it, better-sqlite3 only where it does not', () => {
    expect(defaultSqliteDriver()).toBe(builtin ? 'node:sqlite' : 'better-sqlite3');
  });

  it.skipIf(!process.env.NOON_CONNECT_TEST_SQLITE_DRIVER)(
    'the suites on this Node.js test the binding this test leg names (NOON_CONNECT_TEST_SQLITE_DRIVER)',
    () => {
      expect(defaultSqliteDriver()).toBe(process.env.NOON_CONNECT_TEST_SQLITE_DRIVER);
      expect(SQLITE_DRIVER).toBe(process.env.NOON_CONNECT_TEST_SQLITE_DRIVER);
    },
  );

  it.skipIf(!builtin || process.platform !== 'linux')(
    'a store on node:sqlite works without ever loading better-sqlite3, though it is installed here',
    async () => {
      const store = await createSqliteStore({ database: sqliteFile() });
      await store.setMeta('probe', 'v');
      expect(await store.getMeta('probe')).toBe('v');
      await store.close();
      expect(betterSqliteLoaded()).toBe(false);
    },
  );

  it.skipIf(builtin)('asking for node:sqlite on a Node.js without it names the Node.js to use', async () => {
    const err = await createSqliteStore({ database: sqliteFile(), driver: 'node:sqlite' }).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe('DRIVER_MISSING');
    expect(err.message).toMatch(/Node\.js 22\.13 or newer/);
  });

  it('opens with WAL, the busy timeout and foreign keys on', () => {
    const db = openSqlite(sqliteFile(), 4321, { driver: SQLITE_DRIVER });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('busy_timeout', { simple: true })).toBe(4321);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      // NORMAL (1) between the commits that must be durable.
      expect(db.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });

  it('the commit that stores a key runs at synchronous=FULL, and NORMAL is restored after it', async () => {
    const { db, log } = recording(openSqlite(sqliteFile(), 10_000, { driver: SQLITE_DRIVER }));
    const store = await createSqliteStore({ database: db });
    const a = {
      id: randomUUID(),
      tenant: 'tenant-a',
      stateHash: randomUUID(),
      environment: 'sandbox',
      returnTo: '/done',
      createdAt: 1,
      expiresAt: 600_000,
    };
    await store.createAttempt(a);
    await store.claimAttempt(a.stateHash, 2);
    await store.transition(a.id, 'CLAIMED', 'TOKEN_ISSUED', { sellerProject: 'P1' }, 3);
    await store.transition(a.id, 'TOKEN_ISSUED', 'EXCHANGE_SENT', { exchangeSends: 1 }, 4);
    log.length = 0;
    expect(await store.storeExchangeBody(a.id, 'sealed-body', 5)).toBe(true);
    expect(log).toEqual(['PRAGMA synchronous = FULL', 'BEGIN', 'COMMIT', 'PRAGMA synchronous = NORMAL']);
    expect((await store.getAttempt(a.id))?.status).toBe('KEY_STORED');
    await store.close();
  });

  it('statements say whether they return rows, and the transaction flag follows BEGIN and COMMIT', () => {
    const db = openSqliteDatabase(':memory:', { driver: SQLITE_DRIVER });
    try {
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
      const returning = db.prepare('UPDATE t SET v = ? RETURNING id');
      expect(insert.reader).toBe(false);
      expect(returning.reader).toBe(true);
      expect(db.prepare('SELECT v FROM t').reader).toBe(true);
      expect(db.inTransaction).toBe(false);
      db.exec('BEGIN IMMEDIATE');
      expect(db.inTransaction).toBe(true);
      expect(insert.run('a').changes).toBe(1);
      expect(insert.run('b').changes).toBe(1);
      db.exec('COMMIT');
      expect(db.inTransaction).toBe(false);
      expect(returning.all('c')).toHaveLength(2);
      expect(db.prepare('SELECT v FROM t WHERE v = ?').all('c')).toHaveLength(2);
    } finally {
      db.close();
    }
  });

  it('a read-only open never creates a file and refuses writes', () => {
    const missing = join(tempDir('nc-ro-'), 'missing.db');
    expect(() => openSqliteDatabase(missing, { readonly: true, driver: SQLITE_DRIVER })).toThrow();
    expect(existsSync(missing)).toBe(false);
    const file = sqliteFile();
    const rw = openSqlite(file, 10_000, { driver: SQLITE_DRIVER });
    rw.exec('CREATE TABLE t (v TEXT)');
    rw.close();
    const ro = openSqliteDatabase(file, { readonly: true, driver: SQLITE_DRIVER });
    try {
      expect(() => ro.exec("INSERT INTO t (v) VALUES ('x')")).toThrow(/readonly|read-only/i);
    } finally {
      ro.close();
    }
  });
});
