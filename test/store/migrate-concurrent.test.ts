// Two processes starting at once on an empty database both migrate cleanly (SQLite file and Postgres).

import { spawn } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, openSqliteDatabase } from '../../src/store/index.js';
import { freshSchemaName, PG_URL, postgresAvailable, sqliteFile } from '../helpers/stores.js';

function migrateInChild(url: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/migrate-child.ts', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const pgOk = await postgresAvailable();

describe('concurrent migrations', () => {
  it('two processes migrating one empty SQLite file at once both start cleanly', async () => {
    const file = sqliteFile();
    const results = await Promise.all([migrateInChild(file), migrateInChild(file)]);
    for (const r of results) {
      expect(r.out).toContain('migrated');
      expect(r.code).toBe(0);
    }
    const db = openSqliteDatabase(file, { readonly: true });
    const versions = db.prepare('SELECT version FROM nc_migrations ORDER BY version').all() as {
      version: number;
    }[];
    db.close();
    expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it.skipIf(!pgOk)(
    'two processes migrating one empty Postgres schema at once both start cleanly',
    async () => {
      const schema = freshSchemaName();
      const url = `${PG_URL}?schema=${schema}`;
      try {
        const results = await Promise.all([migrateInChild(url), migrateInChild(url)]);
        for (const r of results) {
          expect(r.out).toContain('migrated');
          expect(r.code).toBe(0);
        }
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        const rows = await c.query(`SELECT version FROM ${schema}.nc_migrations ORDER BY version`);
        await c.end();
        expect(rows.rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      } finally {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  );
});
