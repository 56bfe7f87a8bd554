// Where the sandbox keeps its state: in memory, or written through to a SQLite file (`--data`) so a restart
// keeps projects, accounts, keys, codes, tokens, sessions and the ledger.

import { createDatabaseFile, openSqliteDatabase } from '../store/sqlite-binding.js';

/** One kind of record, keyed by id. Values are copied in and out as JSON when a file backs them. */
export interface Table<T> {
  get(id: string): T | undefined;
  put(id: string, value: T): void;
  delete(id: string): void;
  values(): IterableIterator<T>;
  readonly size: number;
}

export interface RecordStore {
  table<T>(kind: string): Table<T>;
  close(): void;
}

class MemoryTable<T> implements Table<T> {
  protected readonly map = new Map<string, T>();
  get(id: string): T | undefined {
    return this.map.get(id);
  }
  put(id: string, value: T): void {
    this.map.set(id, value);
  }
  delete(id: string): void {
    this.map.delete(id);
  }
  values(): IterableIterator<T> {
    return this.map.values();
  }
  get size(): number {
    return this.map.size;
  }
}

export function memoryRecords(): RecordStore {
  const tables = new Map<string, MemoryTable<unknown>>();
  return {
    table<T>(kind: string): Table<T> {
      let t = tables.get(kind);
      if (!t) {
        t = new MemoryTable<unknown>();
        tables.set(kind, t);
      }
      return t as Table<T>;
    },
    close() {},
  };
}

/** Memory tables mirrored to SQLite: reads come from memory, every write is written through at once. */
export function sqliteRecords(file: string): RecordStore {
  createDatabaseFile(file);
  const db = openSqliteDatabase(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, id))',
  );
  const upsert = db.prepare(
    'INSERT INTO records (kind, id, json) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET json = excluded.json',
  );
  const remove = db.prepare('DELETE FROM records WHERE kind = ? AND id = ?');
  // rowid order is first-insertion order (an upsert keeps its row), the order a Map iterates in, so a restarted
  // sandbox lists records, and picks "the first" seller or account, exactly as before the restart.
  const load = db.prepare('SELECT id, json FROM records WHERE kind = ? ORDER BY rowid');
  const tables = new Map<string, Table<unknown>>();
  let open = true;

  class FileTable<T> extends MemoryTable<T> {
    constructor(readonly kind: string) {
      super();
      for (const row of load.all(kind) as { id: string; json: string }[])
        this.map.set(row.id, JSON.parse(row.json) as T);
    }
    override put(id: string, value: T): void {
      super.put(id, value);
      if (open) upsert.run(this.kind, id, JSON.stringify(value));
    }
    override delete(id: string): void {
      super.delete(id);
      if (open) remove.run(this.kind, id);
    }
  }

  return {
    table<T>(kind: string): Table<T> {
      let t = tables.get(kind);
      if (!t) {
        t = new FileTable<unknown>(kind);
        tables.set(kind, t);
      }
      return t as Table<T>;
    },
    close() {
      open = false;
      db.close();
    },
  };
}
