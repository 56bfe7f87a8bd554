// A database of the previous schema (version 1, with rows of every kind that version wrote) is upgraded in
// place by the current store, SQLite and Postgres alike: every row kept, rotation attempts without a made-up
// state hash, orphan repairs as kind `repair` instead of an error-code marker, and one code per cause.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPostgresStore,
  createSqliteStore,
  MIGRATIONS,
  openSqliteDatabase,
  type SqlStore,
} from '../../src/store/index.js';
import { freshSchemaName, PG_URL, postgresAvailable, sqliteFile } from '../helpers/stores.js';

const V1 = MIGRATIONS.find((m) => m.version === 1)!;

/** Rows as version 1 wrote them: [id, kind, state hash, status, error code]. */
const ROWS: [string, string, string | null, string, string | null][] = [
  ['connected', 'connect', 'hash-connected', 'CONNECTED', null],
  ['rotation', 'rotate', 'hash-of-rotate:rotation', 'CONNECTED', null],
  ['repair-stored', 'connect', 'hash-repair-stored', 'KEY_STORED', 'ORPHAN_REPAIR'],
  ['repair-flagged', 'connect', 'hash-repair-flagged', 'ORPHAN_SUSPECTED', 'ORPHAN_REPAIR'],
  ['repaired', 'connect', 'hash-repaired', 'REPAIRED', 'ORPHAN_REPAIR'],
  ['rotation-in-repair', 'rotate', 'hash-of-rotate:rir', 'EXCHANGE_SENT', 'ORPHAN_REPAIR'],
  ['workflow-failed', 'connect', 'hash-workflow', 'FAILED', 'EXCHANGE_STATUS_9'],
  ['login-failed', 'connect', 'hash-login', 'NEEDS_ATTENTION', 'LOGIN_UNAUTHENTICATED'],
  ['refused', 'connect', 'hash-refused', 'ORPHAN_SUSPECTED', 'HTTP_409'],
  ['flagged', 'connect', 'hash-flagged', 'ORPHAN_SUSPECTED', 'STORE_FAILED'],
];

const lit = (v: string | null) => (v === null ? 'NULL' : `'${v}'`);

/** The statements that make a version-1 database holding ROWS. */
function v1Database(): string[] {
  return [
    'CREATE TABLE nc_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    ...V1.statements,
    `INSERT INTO nc_migrations (version, name, applied_at) VALUES (1, '${V1.name}', 1)`,
    ...ROWS.map(
      ([id, kind, hash, status, code]) =>
        `INSERT INTO nc_attempts (id, kind, tenant, state_hash, environment, return_to, status, created_at, expires_at,
           updated_at, seller_project, error_code)
         VALUES ('${id}', '${kind}', 'tenant-u', ${lit(hash)}, 'sandbox', '/', '${status}', 1, 2, 3, 'PRJU', ${lit(code)})`,
    ),
  ];
}

async function expectUpgraded(store: SqlStore): Promise<void> {
  const get = async (id: string) => (await store.getAttempt(id))!;
  expect((await store.listAttempts({ tenant: 'tenant-u' })).map((a) => a.id).sort()).toEqual(
    ROWS.map((r) => r[0]).sort(),
  );
  expect(await get('connected')).toMatchObject({
    kind: 'connect',
    stateHash: 'hash-connected',
    errorCode: null,
  });
  expect(await get('rotation')).toMatchObject({ kind: 'rotate', stateHash: null });
  expect(await get('rotation-in-repair')).toMatchObject({ kind: 'rotate', stateHash: null, errorCode: null });
  expect(await get('repair-stored')).toMatchObject({
    kind: 'repair',
    stateHash: 'hash-repair-stored',
    status: 'KEY_STORED',
    errorCode: null,
  });
  expect(await get('repaired')).toMatchObject({ kind: 'repair', status: 'REPAIRED', errorCode: null });
  expect(await get('repair-flagged')).toMatchObject({ kind: 'repair', errorCode: 'INTERRUPTED' });
  expect(await get('workflow-failed')).toMatchObject({
    errorCode: 'EXCHANGE_FAILED',
    errorDetail: 'status.code 9',
  });
  expect(await get('login-failed')).toMatchObject({
    errorCode: 'LOGIN_FAILED',
    errorDetail: 'UNAUTHENTICATED',
  });
  expect(await get('refused')).toMatchObject({ errorCode: 'HTTP_STATUS', errorDetail: 'HTTP 409' });
  expect(await get('flagged')).toMatchObject({
    kind: 'connect',
    errorCode: 'STORE_FAILED',
    errorDetail: null,
  });

  // The state hash stays unique where there is one, and a replayed state still finds its attempt.
  expect(await store.claimAttempt('hash-connected', 10)).toMatchObject({ outcome: 'consumed' });
  const base = { tenant: 'tenant-u', environment: 'sandbox', returnTo: '/', createdAt: 10, expiresAt: 20 };
  await expect(
    store.createAttempt({ ...base, id: randomUUID(), stateHash: 'hash-connected' }),
  ).rejects.toThrow();
  // Any number of attempts without a state (rotations) fit beside each other.
  for (let i = 0; i < 2; i++) {
    const id = randomUUID();
    await store.createAttempt({ ...base, id, kind: 'rotate', status: 'EXCHANGE_SENT', stateHash: null });
    expect((await store.getAttempt(id))?.stateHash).toBeNull();
  }
  // Read back by status and age, as the reconciler reads them.
  expect(
    await store.listAttempts({ statuses: ['ORPHAN_SUSPECTED'], updatedBefore: 4, order: 'oldest' }),
  ).toHaveLength(3);
}

const pgOk = await postgresAvailable();

describe('upgrading a version-1 database', () => {
  it('SQLite: the attempts table is rebuilt with every row, its unique state hash and its index', async () => {
    const file = sqliteFile();
    const db = openSqliteDatabase(file);
    for (const s of v1Database()) db.exec(s);
    db.close();

    const store = await createSqliteStore({ database: file });
    try {
      await expectUpgraded(store);
    } finally {
      await store.close();
    }
    const check = openSqliteDatabase(file, { readonly: true });
    const versions = check.prepare('SELECT version FROM nc_migrations ORDER BY version').all();
    const indexes = check
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'nc_attempts'`)
      .all();
    const tables = check
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'nc_attempts%'`)
      .all();
    check.close();
    expect(versions).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    expect(indexes).toContainEqual({ name: 'nc_attempts_status' });
    expect(tables).toEqual([{ name: 'nc_attempts' }]);
  });

  const schemas: string[] = [];
  afterAll(async () => {
    if (schemas.length === 0) return;
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await c.end();
  });

  it.skipIf(!pgOk)('Postgres: the state hash column loses NOT NULL, every row kept', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA ${schema}`);
      await c.query(`SET search_path = ${schema}`);
      for (const s of v1Database()) await c.query(s);
    } finally {
      await c.end();
    }
    const store = await createPostgresStore({ connection: PG_URL, schema });
    try {
      await expectUpgraded(store);
    } finally {
      await store.close();
    }
  });
});
