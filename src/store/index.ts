// noon-connect/store: the connector's persistence, one interface with SQLite and Postgres implementations.

export { StoreError, type StoreErrorCode } from './errors.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { createPostgresStore, type PgPoolLike, type PostgresStoreOptions } from './postgres.js';
export type { SqlDriver, SqlExecutor } from './sql-driver.js';
export { SqlStore } from './sql-store.js';
export { createSqliteStore, openSqlite, type SqliteStoreOptions } from './sqlite.js';
export {
  defaultSqliteDriver,
  type OpenSqliteOptions,
  openSqliteDatabase,
  type SqliteDatabase,
  type SqliteDriverName,
  type SqliteStatement,
} from './sqlite-binding.js';
export * from './types.js';

import { createPostgresStore } from './postgres.js';
import { createSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

/** Opens a store from a URL: `sqlite:<path>` / a plain path, or `postgres://…` (`?schema=` picks a schema). */
export async function openStore(url: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const u = new URL(url);
    const schema = u.searchParams.get('schema') ?? undefined;
    u.searchParams.delete('schema');
    return createPostgresStore({ connection: u.toString(), ...(schema ? { schema } : {}) });
  }
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\//, '') : url;
  if (path === '') throw new TypeError('store URL: empty SQLite path');
  return createSqliteStore({ database: path });
}

/** The store's meta table in the shape a vault keeps its key fingerprints in (`Vault.open({ meta })`). */
export function metaOf(store: Pick<Store, 'getMeta' | 'setMeta' | 'setMetaIfAbsent'>) {
  return {
    get: (name: string) => store.getMeta(name),
    set: (name: string, value: string) => store.setMeta(name, value),
    setIfAbsent: (name: string, value: string) => store.setMetaIfAbsent(name, value),
  };
}
