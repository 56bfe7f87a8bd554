// A store that cannot open says why in one line: the driver's own words (`database "x" does not exist`,
// `connect ECONNREFUSED`, SQLite's or the file system's message) with where it looked, never a password; and
// `serve` turns that into a one-line refusal with exit 3.

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, StoreError } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { PG_URL, postgresAvailable, tempDir } from '../helpers/stores.js';
import { serveEnv, storeRefusalLine } from '../node-versions/serve-refusal.js';

const pgOk = await postgresAvailable();

/** The test server with another database name, and a password it ignores (trust auth) that must not show. */
function pgUrlFor(database: string, port?: number): string {
  const u = new URL(PG_URL);
  u.pathname = `/${database}`;
  u.password = 'not-shown-anywhere-77';
  if (port !== undefined) u.port = String(port);
  return u.toString();
}

/** A SQLite path whose folder cannot be made: a regular file stands where the folder should be. */
function sqliteUnderAFile(): string {
  const dir = tempDir('nc-open-');
  writeFileSync(join(dir, 'not-a-folder'), 'x');
  return join(dir, 'not-a-folder', 'data', 'connect.db');
}

async function openError(url: string): Promise<StoreError> {
  const e = await openStore(url).then(
    async (store) => {
      await store.close();
      throw new Error(`${url} opened`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoreError);
  const err = e as StoreError;
  expect(err.message).not.toContain('\n');
  expect(err.message).not.toContain('not-shown-anywhere-77');
  return err;
}

describe('a store that cannot open names the cause', () => {
  it('SQLite in a folder that cannot be created: the file system says why', async () => {
    const path = sqliteUnderAFile();
    const err = await openError(`sqlite:${path}`);
    expect(err.code).toBe('OPEN_FAILED');
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/ENOTDIR/);
  });

  it('SQLite on a path that is a folder: SQLite says it cannot open it', async () => {
    const dir = join(tempDir('nc-open-'), 'a-folder');
    mkdirSync(dir);
    const err = await openError(dir);
    expect(err.code).toBe('OPEN_FAILED');
    expect(err.message).toMatch(/unable to open database file/);
  });

  it.skipIf(!pgOk)('Postgres without the database: the server says it does not exist', async () => {
    const name = `nc_missing_${randomBytes(4).toString('hex')}`;
    const err = await openError(pgUrlFor(name));
    expect(err.code).toBe('OPEN_FAILED');
    expect(err.message).toContain(`database "${name}" does not exist`);
  });

  it('Postgres that does not answer: the refused connection, with host and port', async () => {
    const err = await openError(pgUrlFor('test', 1));
    expect(err.code).toBe('OPEN_FAILED');
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).toContain(':1/test');
  });
});

/** Runs `serve` from the sources and returns the one stderr line about the store (checked as a refusal). */
async function serveRefusal(store: string): Promise<string> {
  const run = runCli(['serve'], serveEnv(store));
  const code = await run.exit;
  return storeRefusalLine({ code, stdout: run.stdout(), stderr: run.stderr() });
}

describe('serve refuses a store it cannot open: one line with the cause, exit 3', () => {
  it('SQLite folder that cannot be created', async () => {
    expect(await serveRefusal(`sqlite:${sqliteUnderAFile()}`)).toMatch(/ENOTDIR/);
  });

  it('Postgres that does not answer', async () => {
    const line = await serveRefusal(pgUrlFor('test', 1));
    expect(line).toMatch(/ECONNREFUSED/);
    expect(line).not.toContain('not-shown-anywhere-77');
  });

  it.skipIf(!pgOk)('Postgres without the database', async () => {
    const name = `nc_missing_${randomBytes(4).toString('hex')}`;
    expect(await serveRefusal(pgUrlFor(name))).toContain(`database "${name}" does not exist`);
  });
});
