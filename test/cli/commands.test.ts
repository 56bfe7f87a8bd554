// The operator commands as an operator runs them (child processes, the same environment as serve) against a
// real store that a service filled through real connects with the sandbox: exit codes, --json output, and
// what each command changed in the store and at the sandbox.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usage } from '../../src/cli/main.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { ENV_VARS, serviceMetrics } from '../../src/service/index.js';
import { connectionJson } from '../../src/service/views.js';
import { openStore, type Store } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { startServiceStack } from '../helpers/harness.js';
import { freePort } from '../helpers/net.js';
import { startSandbox } from '../helpers/sandbox.js';
import { connectThrough } from '../helpers/seller-flow.js';
import { childEnv } from '../helpers/service-ops.js';
import { PG_URL, postgresAvailable } from '../helpers/stores.js';

let sb: Sandbox;
let env: Record<string, string>;
let store: Store;
let clientSecret: string;
let integratorPem: string;
/** Connection ids by tenant. */
const ids: Record<string, string> = {};

async function run(args: string[], extra: Record<string, string | undefined> = {}) {
  const overrides = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v ?? '']));
  const r = runCli(args, { ...env, ...overrides });
  const code = await r.exit;
  return { code, out: r.stdout(), err: r.stderr() };
}

/** Output of a command must never carry a secret (K7): no sealed value, key, client secret or integrator PEM. */
function expectNoSecrets(text: string): void {
  expect(text).not.toContain('ncv1.');
  expect(text).not.toMatch(/PRIVATE KEY/);
  expect(text).not.toContain(clientSecret);
  for (const line of integratorPem.split('\n').filter((l) => l.length > 40)) expect(text).not.toContain(line);
}

beforeAll(async () => {
  sb = await startSandbox();
  const stack = await startServiceStack({ sandbox: sb });
  for (const [tenant, projectCode] of [
    ['tenant-a', 'PRJ20001'],
    ['tenant-b', 'PRJ20003'],
  ] as const) {
    const run = await connectThrough(stack, {
      startUrl: stack.service.context.links.create({ tenant }).url,
      projectCode,
    });
    if (run.callback.status !== 303) throw new Error(`connect for ${tenant} answered ${run.callback.status}`);
    const [c] = await stack.service.context.store.listConnections({ tenant });
    ids[tenant] = c!.id;
  }
  clientSecret = stack.clientSecret;
  integratorPem = sb.fixtures.integrator.key!.private_key;
  // The commands run against the store the service filled; the service itself is stopped.
  await stack.close();
  env = childEnv({ ...stack.env, NOON_CONNECT_LOG_LEVEL: undefined });
  store = await openStore(env.NOON_CONNECT_STORE!);
}, 60_000);

afterAll(async () => {
  await store?.close();
  await sb?.close();
});

describe('noon-connect operator commands', () => {
  it('--help of every command exits 0 and prints its usage; the top-level help lists them all', async () => {
    const cases: [string[], RegExp][] = [
      [['connections', '--help'], /Usage: noon-connect connections list/],
      [['connections', 'list', '--help'], /--status <s>/],
      [['connections', 'show', '--help'], /connections show <connection-id>/],
      [['rotate', '--help'], /Usage: noon-connect rotate <connection-id>/],
      [['disconnect', '--help'], /Usage: noon-connect disconnect <connection-id>/],
      [['reconcile', '--help'], /Usage: noon-connect reconcile/],
      [['vault', '--help'], /noon-connect vault rotate \[--retire <version>\]/],
      [['vault', 'rotate', '--help'], /--retire <v>/],
      [['doctor', '--help'], /Usage: noon-connect doctor/],
    ];
    const runs = await Promise.all(cases.map(([args]) => run(args)));
    runs.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(0);
      expect(r.out).toMatch(cases[i]![1]);
    });
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['connections', 'rotate', 'disconnect', 'reconcile', 'vault', 'doctor', 'serve', 'dev'])
      expect(top.out).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('bad usage exits 2 with a message naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['connections'], /Usage: noon-connect connections/],
      [['connections', 'frob'], /unknown subcommand 'frob'/],
      [
        ['connections', 'list', '--status', 'happy'],
        /--status must be one of active, needs_reconnect, disconnected/,
      ],
      [['connections', 'list', '--bogus'], /--bogus/],
      [['connections', 'show'], /exactly one connection id/],
      [['rotate'], /exactly one connection id/],
      [['rotate', 'a', 'b'], /exactly one connection id/],
      [['disconnect'], /exactly one connection id/],
      [['reconcile', 'now'], /now/],
      [['vault'], /Usage: noon-connect vault keygen/],
      [['vault', 'frob'], /unknown subcommand 'frob'/],
      [['doctor', '--timeout', 'soon'], /--timeout must be an integer/],
    ];
    const runs = await Promise.all(cases.map(([args]) => run(args)));
    runs.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.err).toMatch(cases[i]![1]);
    });
  });

  it('a refused configuration exits 3 listing every problem; a store path that does not exist is refused, not created', async () => {
    const r = await run(['connections', 'list'], {
      NOON_CLIENT_ID: '',
      NOON_CONNECT_MASTER_KEY: '',
      NOON_CONNECT_PUBLIC_URL: 'http://connect.example.com',
    });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/NOON_CLIENT_ID is required/);
    expect(r.err).toMatch(/a master key is required/);
    expect(r.err).toMatch(/NOON_CONNECT_PUBLIC_URL must use https in production/);

    const missing = join(env.NOON_CONNECT_STORE!.replace(/^sqlite:/, ''), '..', 'nowhere.db');
    const m = await run(['connections', 'list'], { NOON_CONNECT_STORE: `sqlite:${missing}` });
    expect(m.code).toBe(3);
    expect(m.err).toMatch(/no database at .*nowhere\.db/);
    expect(existsSync(missing)).toBe(false);
  });

  it('K7 connections list prints a table, or JSON with metadata only in the REST API shape; --tenant and --status filter', async () => {
    // Five independent reads of one store: run side by side.
    const [table, all, b, none, nobody] = await Promise.all([
      run(['connections', 'list']),
      run(['connections', 'list', '--json']),
      run(['connections', 'list', '--tenant', 'tenant-b', '--json']),
      run(['connections', 'list', '--status', 'disconnected', '--json']),
      run(['connections', 'list', '--tenant', 'tenant-z']),
    ]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^ID\s+TENANT\s+SELLER PROJECT\s+STATUS\s+KEY ID\s+CONNECTED AT/m);
    expect(table.out).toContain(ids['tenant-a']);
    expect(table.out).toContain(ids['tenant-b']);

    expect(all.code).toBe(0);
    const listed = JSON.parse(all.out) as { connections: Record<string, unknown>[] };
    expect(Object.keys(listed)).toEqual(['connections']);
    const rows = listed.connections;
    expect(rows.map((r) => r.id).sort()).toEqual([ids['tenant-a'], ids['tenant-b']].sort());
    const a = rows.find((r) => r.tenant === 'tenant-a')!;
    const stored = (await store.getConnection(ids['tenant-a']!))!;
    // The same serializer as GET /api/connections: the same fields, nothing sealed.
    expect(a).toEqual(connectionJson(stored));
    expect(a).toMatchObject({
      seller_project: 'PRJ20001',
      status: 'active',
      key_id: stored.keyId,
      channel_identifier: stored.channelIdentifier,
      connected_at: new Date(stored.connectedAt!).toISOString(),
    });
    expect(Object.keys(a)).not.toContain('credential_id');
    expectNoSecrets(all.out + all.err);

    const onlyB = JSON.parse(b.out);
    expect(onlyB.connections.map((r: { id: string }) => r.id)).toEqual([ids['tenant-b']]);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.out)).toEqual({ connections: [] });
    expect(nobody.code).toBe(0);
    expect(nobody.out.trim()).toBe('no connections');
  }, 60_000);

  it('K7 connections show gives the keys (ids and states) and attempts, never a key; an unknown id exits 4', async () => {
    const id = ids['tenant-a']!;
    const r = await run(['connections', 'show', id, '--json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.out);
    const conn = (await store.getConnection(id))!;
    expect(shown).toMatchObject({ ...connectionJson(conn), user_code: conn.userCode });
    expect(shown).toMatchObject({ id, tenant: 'tenant-a', seller_project: 'PRJ20001', status: 'active' });
    expect(shown.credentials).toEqual([
      expect.objectContaining({ id: conn.credentialId, key_id: conn.keyId, state: 'active', in_use: true }),
    ]);
    expect(shown.attempts).toEqual([expect.objectContaining({ kind: 'connect', status: 'CONNECTED' })]);
    expectNoSecrets(r.out + r.err);

    const human = await run(['connections', 'show', id]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(new RegExp(`^key id:\\s+${conn.keyId}$`, 'm'));
    expect(human.out).toMatch(/^keys:$/m);
    expectNoSecrets(human.out);

    const unknown = await run(['connections', 'show', 'no-such-connection']);
    expect(unknown.code).toBe(4);
    expect(unknown.err).toMatch(/no connection no-such-connection/);
  });

  it('reconcile runs one pass and prints its report; a stale attempt past its expiry ends FAILED', async () => {
    const staleId = `stale-${randomBytes(4).toString('hex')}`;
    const long = Date.now() - 60 * 60_000;
    await store.createAttempt({
      id: staleId,
      tenant: 'tenant-a',
      stateHash: randomBytes(32).toString('hex'),
      environment: 'local',
      returnTo: '/',
      createdAt: long,
      expiresAt: long + 10 * 60_000,
    });
    const r = await run(['reconcile', '--json']);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    for (const k of [
      'examined',
      'failed',
      'resumed',
      'orphans',
      'repaired',
      'needsReconnect',
      'connected',
      'retiredKeys',
    ])
      expect(typeof report[k], k).toBe('number');
    expect(report.failed).toBeGreaterThanOrEqual(1);
    expect((await store.getAttempt(staleId))!.status).toBe('FAILED');

    const again = await run(['reconcile']);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^reconciler pass done/m);
    expect(again.out).toMatch(/^\s+failed\s+0$/m);
  });

  it('rotate replaces the key make-before-break: new key stored and in use, old one removed at Noon, connected date kept; unknown id exits 4', async () => {
    const id = ids['tenant-a']!;
    const before = (await store.getConnection(id))!;
    const r = await run(['rotate', id, '--json']);
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.previous_key_id).toBe(before.keyId);
    expect(out.key_id).not.toBe(before.keyId);
    expectNoSecrets(r.out + r.err);
    const after = (await store.getConnection(id))!;
    expect(out).toEqual({ ...connectionJson(after), previous_key_id: before.keyId });
    // A rotation is not a new connection: "connected" keeps the date the seller connected.
    expect(before.connectedAt).not.toBeNull();
    expect(after.connectedAt).toBe(before.connectedAt);
    expect(after.updatedAt).toBeGreaterThanOrEqual(before.updatedAt);
    const creds = await store.listCredentials({ connectionId: id });
    expect(creds.find((c) => c.keyId === out.key_id)!.state).toBe('active');
    expect(creds.find((c) => c.keyId === before.keyId)!.state).toBe('removed');
    // At the sandbox: the new key was issued by the API User Service and the old one is no longer active.
    const issued = sb.ledger.entries().find((e) => e.keyId === out.key_id)!;
    expect(issued.via).toBe('api_users.create');
    const active = sb.world.activeKeys(issued.userCode).map((k) => k.keyId);
    expect(active).toContain(out.key_id);
    expect(active).not.toContain(before.keyId);

    const unknown = await run(['rotate', 'no-such-connection']);
    expect(unknown.code).toBe(4);
    expect(unknown.err).toMatch(/no such connection \(CONNECTION_NOT_FOUND\)/);
  });

  it('disconnect removes the keys at Noon and marks the connection disconnected; rotate then fails with 1; unknown id exits 4', async () => {
    const id = ids['tenant-b']!;
    const conn = (await store.getConnection(id))!;
    const r = await run(['disconnect', id, '--json']);
    expect(r.code, r.err).toBe(0);
    const after = (await store.getConnection(id))!;
    expect(after.status).toBe('disconnected');
    expect(JSON.parse(r.out)).toEqual(connectionJson(after));
    const account = sb.ledger.entries().find((e) => e.keyId === conn.keyId)!.userCode;
    expect(sb.world.accountKeys(account).map((k) => k.keyId)).toContain(conn.keyId);
    expect(sb.world.activeKeys(account).map((k) => k.keyId)).not.toContain(conn.keyId);
    const listed = JSON.parse((await run(['connections', 'list', '--status', 'disconnected', '--json'])).out);
    expect(listed.connections.map((c: { id: string }) => c.id)).toEqual([id]);

    const rotate = await run(['rotate', id]);
    expect(rotate.code).toBe(1);
    expect(rotate.err).toMatch(/CONNECTION_INACTIVE/);
    const unknown = await run(['disconnect', 'no-such-connection']);
    expect(unknown.code).toBe(4);
  });

  it('doctor passes every check against a working setup, in text and --json', async () => {
    const r = await run(['doctor']);
    expect(r.code, r.out + r.err).toBe(0);
    for (const check of ['config', 'store', 'master key', 'key file', 'noon', 'callback', 'integrator login'])
      expect(r.out).toMatch(new RegExp(`^ok\\s+${check}\\s`, 'm'));
    expect(r.out).not.toMatch(/FAIL/);
    expect(r.out).toMatch(/matches the key recorded in the store and opens its data/);
    const j = await run(['doctor', '--json']);
    expect(j.code).toBe(0);
    const checks = JSON.parse(j.out) as { check: string; ok: boolean }[];
    expect(checks.length).toBe(7);
    expect(checks.every((c) => c.ok)).toBe(true);
    expectNoSecrets(r.out + r.err + j.out);
  });

  it('doctor fails the callback check when the sandbox client is not registered for the service callback, and says how to fix it', async () => {
    const elsewhere = `http://127.0.0.1:${await freePort()}`;
    const r = await run(['doctor'], { NOON_CONNECT_PUBLIC_URL: elsewhere });
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `^FAIL\\s+callback\\s+.*not registered for ${elsewhere}/connect/callback.*--redirect-uri ${elsewhere}/connect/callback`,
        'm',
      ),
    );
    expect(r.out).toMatch(/^ok\s+integrator login\s/m);
    expectNoSecrets(r.out + r.err);
  });

  it('doctor names each failing check with a hint and exits 1; a refused configuration exits 3; it writes nothing', async () => {
    const closed = await freePort();
    const down = await run(['doctor', '--timeout', '2000'], {
      NOON_LOCAL_URL: `http://127.0.0.1:${closed}`,
      NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    expect(down.code).toBe(1);
    expect(down.out).toMatch(/^ok\s+config\s/m);
    expect(down.out).toMatch(/^ok\s+store\s/m);
    expect(down.out).toMatch(/^FAIL\s+master key\s+.*not the key recorded.*\(hint: .+\)$/m);
    expect(down.out).toMatch(/^FAIL\s+noon\s+.*did not answer.*\(hint: check NOON_ENV/m);
    expect(down.out).toMatch(/^FAIL\s+integrator login\s+.*\(hint: .+\)$/m);

    const fresh = join(env.NOON_CONNECT_STORE!.replace(/^sqlite:/, ''), '..', 'fresh.db');
    const first = await run(['doctor'], { NOON_CONNECT_STORE: `sqlite:${fresh}` });
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/^ok\s+store\s+no database yet/m);
    expect(first.out).toMatch(/not recorded yet/);
    expect(existsSync(fresh)).toBe(false);

    const refused = await run(['doctor'], { NOON_CLIENT_SECRET: '', NOON_KEY_FILE: '' });
    expect(refused.code).toBe(3);
    expect(refused.out).toMatch(/^FAIL\s+config\s+NOON_CLIENT_SECRET is required/m);
    expect(refused.out).toMatch(/^FAIL\s+config\s+NOON_KEY_FILE is required/m);
  });

  it('doctor fails the store check with its cause when the store cannot be opened and read; connections list exits 3 with it', async (ctx) => {
    // A SQLite file that is not a database: it opens, and the first read fails.
    const junk = join(env.NOON_CONNECT_STORE!.replace(/^sqlite:/, ''), '..', 'junk.db');
    writeFileSync(junk, randomBytes(8192));
    const sqlite = await run(['doctor', '--timeout', '2000'], { NOON_CONNECT_STORE: `sqlite:${junk}` });
    expect(sqlite.code).toBe(1);
    expect(sqlite.out).toMatch(
      /^FAIL\s+store\s+cannot open or query the store: .*not a database.*\(hint: .+\)$/m,
    );
    expect(sqlite.out).not.toMatch(/^ok\s+store/m);

    if (!(await postgresAvailable())) ctx.skip();
    const database = `nc_missing_${randomBytes(4).toString('hex')}`;
    const missing = new URL(PG_URL);
    missing.pathname = `/${database}`;
    const pg = await run(['doctor', '--timeout', '2000'], { NOON_CONNECT_STORE: missing.href });
    expect(pg.code).toBe(1);
    expect(pg.out).toMatch(
      new RegExp(
        `^FAIL\\s+store\\s+cannot open or query the store: .*database "${database}" does not exist.*\\(hint: check the Postgres URL`,
        'm',
      ),
    );
    const list = await run(['connections', 'list'], { NOON_CONNECT_STORE: missing.href });
    expect(list.code).toBe(3);
    expect(list.err).toMatch(
      new RegExp(
        `^noon-connect connections list: store: cannot open \\(.*database "${database}" does not exist`,
      ),
    );
  }, 60_000);

  it('vault keygen prints a fresh 32-byte base64 master key each time', async () => {
    const [a, b] = await Promise.all([run(['vault', 'keygen']), run(['vault', 'keygen'])]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const ka = a.out.trim();
    expect(Buffer.from(ka, 'base64').length).toBe(32);
    expect(Buffer.from(ka, 'base64').toString('base64')).toBe(ka);
    expect(ka).not.toBe(b.out.trim());
  });

  it('K6 vault rotate re-wraps every sealed value under the new version, then retires the old one; the old key alone is refused', async () => {
    const v1 = env.NOON_CONNECT_MASTER_KEY!;
    const v2 = (await run(['vault', 'keygen'])).out.trim();
    const both = JSON.stringify({ current: 'v2', keys: { v1, v2 } });
    const sealedBefore = await store.listSealedValues({ limit: 1000 });
    expect(sealedBefore.length).toBeGreaterThan(0);
    expect(sealedBefore.every((v) => v.sealed.startsWith('ncv1.v1.'))).toBe(true);

    const retireCurrent = await run(['vault', 'rotate', '--retire', 'v2'], { NOON_CONNECT_MASTER_KEY: both });
    expect(retireCurrent.code).toBe(2);
    expect(retireCurrent.err).toMatch(/current version/);

    const r = await run(['vault', 'rotate', '--json'], { NOON_CONNECT_MASTER_KEY: both });
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ currentVersion: 'v2', raced: 0, remaining: 0, retired: null });
    expect(report.rewrapped).toBe(sealedBefore.length);
    const sealedAfter = await store.listSealedValues({ limit: 1000 });
    expect(sealedAfter.every((v) => v.sealed.startsWith('ncv1.v2.'))).toBe(true);
    expectNoSecrets(r.out + r.err);

    const unknown = await run(['vault', 'rotate', '--retire', 'v9'], { NOON_CONNECT_MASTER_KEY: both });
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/v9/);

    const retire = await run(['vault', 'rotate', '--retire', 'v1'], { NOON_CONNECT_MASTER_KEY: both });
    expect(retire.code, retire.err).toBe(0);
    expect(retire.out).toMatch(/rewrapped\s+0/);
    expect(retire.out).toMatch(/retired version v1/);

    // v2 alone now opens everything (doctor opens sealed data; reconcile builds the whole connector).
    const v2only = JSON.stringify({ current: 'v2', keys: { v2 } });
    const doctor = await run(['doctor'], { NOON_CONNECT_MASTER_KEY: v2only });
    expect(doctor.code, doctor.out).toBe(0);
    expect(doctor.out).toMatch(/^ok\s+master key\s+current version v2; matches .* opens its data/m);
    expect((await run(['reconcile'], { NOON_CONNECT_MASTER_KEY: v2only })).code).toBe(0);
    // The retired key can never be current again.
    const old = await run(['reconcile'], { NOON_CONNECT_MASTER_KEY: v1 });
    expect(old.code).toBe(3);
    expect(old.err).toMatch(/retired/);
  });
});

describe('docs/service.md', () => {
  const doc = readFileSync('docs/service.md', 'utf8');
  it('documents every environment variable the service reads, every command and every metric', async () => {
    for (const [name] of ENV_VARS) expect(doc, name).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
    const commands = [...usage().matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]!);
    expect(commands.length).toBeGreaterThanOrEqual(9);
    for (const c of commands) expect(doc, c).toMatch(new RegExp(`^\\| \`${c}[ \`]`, 'm'));
    const metrics = [...(await serviceMetrics().registry.render()).matchAll(/^# TYPE (\S+)/gm)].map(
      (m) => m[1]!,
    );
    for (const m of metrics) expect(doc, m).toContain(`\`${m}`);
    for (const code of [0, 1, 2, 3, 4]) expect(doc).toMatch(new RegExp(`^\\| ${code} +\\|`, 'm'));
  });
});
