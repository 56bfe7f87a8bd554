// Secrets at rest and on the read API: after a run of flows (connects, a reconnect, a key that failed validation,
// a rotation, an orphan repair, refusals, a token left mid-flow), the connector's data (SQLite main file, WAL and
// folder; a Postgres dump) holds no PEM, access token, client secret, code, login JWT or session cookie, and
// listConnections/getConnection return metadata only. The sandbox's own key cache is not the connector's data.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionView } from '../../src/connect/index.js';
import { type Stack, startStack } from '../helpers/harness.js';
import { pemLine } from '../helpers/pem.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { PG_URL, postgresAvailable, tempDir } from '../helpers/stores.js';
import { dataFolder, filesUnder, leakReport, leaks, readAll, type Secret } from '../helpers/wire.js';

const pgOk = await postgresAvailable();

/** What the read API may show: metadata only. */
const VIEW_FIELDS = [
  'channelIdentifier',
  'connectedAt',
  'createdAt',
  'id',
  'keyId',
  'lastHealthAt',
  'lastHealthOk',
  'oauthRequestId',
  'sellerProject',
  'status',
  'tenant',
  'updatedAt',
].sort();

interface FlowSummary {
  connected: string[];
  needsAttention: string;
  rotated: { connectionId: string; oldKeyId: string; newKeyId: string };
  repaired: string;
  tokenLeftSealed: string;
  issuedKeys: number;
}

/**
 * The flows whose secrets the at-rest search looks for: two connects, a reconnect, a key kept sealed because it
 * failed validation (NEEDS_ATTENTION), a rotation, an orphan repair, a refused code, and an attempt stopped at
 * TOKEN_ISSUED (its access token stays sealed in the store).
 */
async function runFlows(s: Stack): Promise<FlowSummary> {
  const sb = s.sb;
  const p1 = freshSeller(sb, 'K1A').projectCode;
  const p2 = freshSeller(sb, 'K1B').projectCode;
  const p3 = freshSeller(sb, 'K1C').projectCode;
  const p4 = freshSeller(sb, 'K1D').projectCode;
  const a = await connectThrough(s, { tenant: 'k-a', projectCode: p1 });
  const b = await connectThrough(s, { tenant: 'k-b', projectCode: p2 });
  for (const r of [a, b]) expect((await s.connector.getAttempt(r.attemptId!))!.status).toBe('CONNECTED');
  // A reconnect of the same seller: make before break, the old key removed upstream.
  const b2 = await connectThrough(s, { tenant: 'k-b', projectCode: p2 });
  expect((await s.connector.getAttempt(b2.attemptId!))!.status).toBe('CONNECTED');

  // A real key whose answer names another project: kept sealed, NEEDS_ATTENTION.
  sb.addFault({
    endpoint: 'token.exchange',
    action: { type: 'mutate', set: { project_code: 'PRJ99998', 'result.project_code': 'PRJ99998' } },
  });
  const c = await connectThrough(s, { tenant: 'k-c', projectCode: p3 });
  const cAttempt = (await s.connector.getAttempt(c.attemptId!))!;
  expect(cAttempt.status).toBe('NEEDS_ATTENTION');
  expect(cAttempt.rawExchangeSealed).toBeTruthy();

  // Rotation of k-a's connection.
  const conn = (await s.connector.listConnections({ tenant: 'k-a' }))[0]!;
  const rotated = await s.connector.rotate(conn.id);
  expect(rotated.keyId).not.toBe(conn.keyId);

  // An orphan on a known service account, repaired with a fresh key.
  sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
  const d = await connectThrough(s, { tenant: 'k-d', projectCode: p1 });
  expect((await s.connector.getAttempt(d.attemptId!))!.status).toBe('REPAIRED');

  // A refused code.
  const e = await connectThrough(s, { tenant: 'k-e', code: 'not-a-code-noon-issued-0123456789' });
  expect((await s.connector.getAttempt(e.attemptId!))!.status).toBe('FAILED');

  // A flow stopped right after TOKEN_ISSUED: its access token is at rest, sealed.
  s.setStepHook((step) => {
    if (step === 'TOKEN_ISSUED') throw new Error('stopped at TOKEN_ISSUED');
  });
  let f: Awaited<ReturnType<typeof connectThrough>>;
  try {
    f = await connectThrough(s, { tenant: 'k-f', projectCode: p4 });
  } finally {
    s.setStepHook(undefined);
  }
  const fAttempt = (await s.connector.getAttempt(f.attemptId!))!;
  expect(fAttempt.status).toBe('TOKEN_ISSUED');
  expect(fAttempt.accessTokenSealed).toBeTruthy();

  // Health checks log in as each seller: more session cookies and login JWTs cross the wire.
  for (const v of await s.connector.listConnections({ status: 'active' })) {
    expect((await s.connector.healthCheck(v.id)).ok).toBe(true);
  }
  await s.wire.settled();
  const issuedKeys = s.wire.records.filter(
    (r) => r.status === 200 && (r.responseBody ?? '').includes('PRIVATE KEY'),
  ).length;
  return {
    connected: [a.attemptId!, b.attemptId!, b2.attemptId!],
    needsAttention: c.attemptId!,
    rotated: { connectionId: conn.id, oldKeyId: conn.keyId!, newKeyId: rotated.keyId! },
    repaired: d.attemptId!,
    tokenLeftSealed: f.attemptId!,
    issuedKeys,
  };
}

/** Checks the secrets list covers what the flows handled, so an empty search result means something. */
function expectCoverage(secrets: readonly Secret[], flows: FlowSummary): void {
  const pemSources = new Set(
    secrets.filter((x) => / private_key of /.test(x.label)).map((x) => x.label.replace(/ line \d+$/, '')),
  );
  // connect ×3, NEEDS_ATTENTION, rotation, orphan (lost answer is not received), repair key.
  expect(flows.issuedKeys).toBeGreaterThanOrEqual(6);
  expect(pemSources.size).toBe(flows.issuedKeys);
  expect(secrets.filter((x) => /response access_token of /.test(x.label)).length).toBeGreaterThanOrEqual(6);
  expect(secrets.some((x) => x.label.startsWith('cookie _npsid'))).toBe(true);
  expect(secrets.some((x) => /request token of .*login/.test(x.label))).toBe(true);
  expect(secrets.some((x) => x.label === 'client secret')).toBe(true);
}

/** Metadata only: the exact field set, nothing secret, no sealed value. */
async function expectMetadataOnly(s: Stack, views: ConnectionView[]): Promise<void> {
  const secrets = await s.secrets();
  const sealed: Secret[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await s.store.listSealedValues({ limit: 500, ...(after ? { after } : {}) });
    for (const v of page) {
      // Any long slice of a sealed value would do; the whole value and its tail are enough to tell.
      sealed.push({ label: `sealed ${v.column}`, value: v.sealed });
      sealed.push({ label: `sealed ${v.column} tail`, value: v.sealed.slice(-40) });
    }
    if (page.length < 500) break;
    after = page.at(-1)!.key;
  }
  expect(sealed.length).toBeGreaterThan(0);
  for (const v of views) {
    expect(Object.keys(v).sort()).toEqual(VIEW_FIELDS);
    for (const [k, x] of Object.entries(v)) {
      expect(['string', 'number', 'boolean'].includes(typeof x) || x === null, k).toBe(true);
      if (typeof x === 'string') expect(x.length, k).toBeLessThan(256);
    }
    const text = JSON.stringify(v);
    expect(leaks(text, secrets)).toEqual([]);
    expect(leaks(text, sealed)).toEqual([]);
  }
}

async function postgresDump(schema: string): Promise<Buffer> {
  try {
    return execFileSync('pg_dump', ['--data-only', `--schema=${schema}`, '--dbname', PG_URL], {
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // No pg_dump on this machine: every row of every table of the schema, as text.
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const tables = await c.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [schema],
      );
      const parts: string[] = [];
      for (const t of tables.rows) {
        const rows = await c.query<{ j: string }>(
          `SELECT row_to_json(x)::text AS j FROM "${schema}"."${t.table_name}" x`,
        );
        parts.push(...rows.rows.map((r) => r.j));
      }
      return Buffer.from(parts.join('\n'));
    } finally {
      await c.end();
    }
  }
}

describe('K1 the byte search itself (control)', () => {
  it('K1 finds a planted PEM line, access token, client secret and session cookie in a folder, and nothing in clean bytes', () => {
    const secrets: Secret[] = [
      { label: 'pem line', value: randomBytes(48).toString('base64') },
      { label: 'access token', value: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJQUkoifQ.c2lnbmF0dXJlLXZhbHVl' },
      { label: 'client secret', value: 'cs_0123456789abcdef0123456789abcdef' },
      { label: 'session cookie', value: 'npsid-0123456789abcdef0123456789' },
    ];
    const dir = tempDir('nc-k1-control-');
    writeFileSync(join(dir, 'clean.bin'), Buffer.from('nothing secret here, only metadata: key_id k-1'));
    expect(readAll(filesUnder(dir)).flatMap((f) => leaks(f.bytes, secrets))).toEqual([]);
    for (const s of secrets) {
      writeFileSync(
        join(dir, `${s.label}.bin`),
        Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(s.value)]),
      );
    }
    writeFileSync(join(dir, 'marker.bin'), pemLine('BEGIN'));
    const found = readAll(filesUnder(dir)).flatMap((f) => leaks(f.bytes, secrets));
    expect(new Set(found)).toEqual(new Set([...secrets.map((s) => s.label), 'PEM header or footer']));
  });
});

describe('K1 K7 SQLite', () => {
  let s: Stack;
  let flows: FlowSummary;
  beforeAll(async () => {
    s = await startStack({ wire: 'record', clockSleeps: true, stepHooks: true, store: 'sqlite' });
    flows = await runFlows(s);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('K7 listConnections and getConnection return metadata only (key id, channel identifier, dates), never key material or a sealed value', async () => {
    const views = await s.connector.listConnections();
    expect(views.length).toBe(3);
    await expectMetadataOnly(s, views);
    for (const v of views) {
      const one = (await s.connector.getConnection(v.id))!;
      expect(one).toEqual(v);
      await expectMetadataOnly(s, [one]);
      // The key id shown is the stored active key's, and Noon lists it for the channel.
      const [cred] = await s.store.listCredentials({ connectionId: v.id, states: ['active'] });
      expect(v.keyId).toBe(cred!.keyId);
      expect(v.channelIdentifier).toBe(cred!.channelIdentifier);
    }
    const rotated = (await s.connector.getConnection(flows.rotated.connectionId))!;
    expect(rotated.keyId).toBe(flows.rotated.newKeyId);
    expect(await leakReport(s)).toEqual([]);
  });

  it('K1 the SQLite main file, its -wal and its folder hold no PEM, access token, client secret, code, login JWT or session cookie', async () => {
    const secrets = await s.secrets();
    expectCoverage(secrets, flows);
    const folder = dataFolder(s);
    const open = readAll(filesUnder(folder));
    const names = open.map((f) => f.file);
    expect(names).toContain(s.file!);
    expect(names).toContain(`${s.file!}-wal`);
    // The search reads the real data: metadata the flows wrote is found in the same bytes.
    const all = Buffer.concat(open.map((f) => f.bytes));
    expect(all.includes(flows.rotated.newKeyId)).toBe(true);
    expect(open.flatMap((f) => leaks(f.bytes, secrets).map((w) => `${w} in ${f.file}`))).toEqual([]);
    expect(await leakReport(s)).toEqual([]);

    // After close (the WAL checkpointed into the main file), once more.
    await s.close();
    const closed = readAll(filesUnder(folder));
    expect(Buffer.concat(closed.map((f) => f.bytes)).includes(flows.rotated.newKeyId)).toBe(true);
    expect(closed.flatMap((f) => leaks(f.bytes, secrets).map((w) => `${w} in ${f.file}`))).toEqual([]);
    expect(existsSync(s.file!)).toBe(true);
  });
});

describe.skipIf(!pgOk)('K1 K7 Postgres', () => {
  let s: Stack;
  let flows: FlowSummary;
  beforeAll(async () => {
    s = await startStack({ wire: 'record', clockSleeps: true, stepHooks: true, store: 'postgres' });
    flows = await runFlows(s);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('K7 listConnections and getConnection return metadata only on Postgres', async () => {
    const views = await s.connector.listConnections();
    expect(views.length).toBe(3);
    await expectMetadataOnly(s, views);
    for (const v of views) await expectMetadataOnly(s, [(await s.connector.getConnection(v.id))!]);
    expect(await leakReport(s)).toEqual([]);
  });

  it('K1 a pg_dump --data-only of the connector schema holds no PEM, access token, client secret, code, login JWT or session cookie', async () => {
    const secrets = await s.secrets();
    expectCoverage(secrets, flows);
    const dump = await postgresDump(s.schema!);
    expect(dump.includes(flows.rotated.newKeyId)).toBe(true);
    expect(leaks(dump, secrets)).toEqual([]);
    expect(await leakReport(s)).toEqual([]);
  });
});
