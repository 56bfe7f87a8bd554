// A sandbox started with `data: <file>`, closed and started again on the same file keeps its world: projects,
// accounts, keys, sessions (an old cookie still works), the OAuth client secret, unspent access tokens and the
// ledger; and the file holds no private key it issued.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyFile, LedgerEntry, Sandbox } from '../../src/sandbox/index.js';
import { gw, login, startSandbox } from '../helpers/sandbox.js';
import { CATALOG, connectSeller, WHOAMI } from './gateway-helpers.js';

let dir: string;
let data: string;

/** What the first run leaves behind, to compare with the second run. */
interface FirstRun {
  integratorKey: KeyFile;
  keyFilePath: string;
  cookie: string;
  sellerKey: KeyFile;
  sellerCookie: string;
  clientSecret: string;
  /** An access token from token/create, not yet exchanged. */
  unspentToken: string;
  ledger: LedgerEntry[];
  projects: string[];
  accounts: string[];
  keys: { keyId: string; active: boolean }[];
}

let first: FirstRun;
let second: Sandbox | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'noon-sandbox-data-'));
  data = join(dir, 'state', 'sandbox.db');
  const sb = await startSandbox({ data });
  try {
    const integratorKey = sb.fixtures.integrator.key!;
    const cookie = await login(sb, integratorKey);
    const sellerKey = await connectSeller(sb, 'PRJ20001');
    const sellerCookie = await login(sb, sellerKey);
    const { code } = sb.authorize({ projectCode: 'PRJ20004' });
    const created = await gw(sb, '/identity/oauth/v1/token/create', {
      cookie,
      body: {
        grant_type: 'authorization_code',
        code,
        client_id: sb.fixtures.client.clientId,
        client_secret: sb.fixtures.client.clientSecret,
      },
    });
    expect(created.status).toBe(200);
    first = {
      integratorKey,
      keyFilePath: sb.fixtures.integrator.keyFile!,
      cookie,
      sellerKey,
      sellerCookie,
      clientSecret: sb.fixtures.client.clientSecret,
      unspentToken: created.json.access_token,
      ledger: sb.ledger.entries(),
      projects: [...sb.world.projects.values()].map((p) => p.code),
      accounts: [...sb.world.accounts.values()].map((a) => a.userCode),
      keys: [...sb.world.keys.values()].map((k) => ({ keyId: k.keyId, active: k.active })),
    };
  } finally {
    await sb.close();
  }
  second = await startSandbox({ data });
});

afterAll(async () => {
  await second?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('restart on the same data file', () => {
  it('keeps projects, accounts and keys in their original order; the integrator key is not issued again and its file still logs in', async () => {
    const sb = second!;
    expect([...sb.world.projects.values()].map((p) => p.code)).toEqual(first.projects);
    expect([...sb.world.accounts.values()].map((a) => a.userCode)).toEqual(first.accounts);
    expect([...sb.world.keys.values()].map((k) => ({ keyId: k.keyId, active: k.active }))).toEqual(
      first.keys,
    );
    expect(first.projects).toEqual(expect.arrayContaining(['PRJ10001', 'PRJ20001', 'PRJ20003', 'PRJ20004']));
    // The first run wrote the key file beside the data; the second run issues no new fixture key.
    expect(first.keyFilePath).toBe(join(dir, 'state', 'integrator-key.json'));
    expect(sb.fixtures.integrator.key).toBeUndefined();
    const onDisk = JSON.parse(readFileSync(first.keyFilePath, 'utf8')) as KeyFile;
    expect(onDisk.key_id).toBe(first.integratorKey.key_id);
    const cookie = await login(sb, onDisk);
    expect((await gw(sb, WHOAMI, { cookie })).json.key_id).toBe(onDisk.key_id);
  });

  it('NC4 NC12 keeps sessions: cookies from before the restart still work for whoami and the catalog', async () => {
    const sb = second!;
    const me = await gw(sb, WHOAMI, { cookie: first.cookie });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ key_id: first.integratorKey.key_id, project_code: 'PRJ10001' });
    const seller = await gw(sb, CATALOG, { cookie: first.sellerCookie });
    expect(seller.status).toBe(200);
    expect(seller.json.project_code).toBe('PRJ20001');
    // And the seller credential from the first run logs in again.
    const again = await login(sb, first.sellerKey);
    expect((await gw(sb, WHOAMI, { cookie: again })).json.key_id).toBe(first.sellerKey.key_id);
  });

  it('keeps the OAuth client secret, and an access token issued before the restart can still be exchanged', async () => {
    const sb = second!;
    expect(sb.fixtures.client.clientSecret).toBe(first.clientSecret);
    const fixtures = await gw(sb, '/_sandbox/fixtures');
    expect(fixtures.json.clients[0].client_secret).toBe(first.clientSecret);
    const ex = await gw(sb, '/identity/oauth/v1/token/exchange', {
      cookie: first.cookie,
      body: { access_token: first.unspentToken },
    });
    expect(ex.status, ex.text).toBe(200);
    expect(ex.json.status.code).toBe(0);
    expect(ex.json.project_code).toBe('PRJ20004');
  });

  it('keeps the ledger, and new entries continue its sequence', async () => {
    const sb = second!;
    const now = sb.ledger.entries();
    expect(now.slice(0, first.ledger.length)).toEqual(first.ledger);
    expect(first.ledger.some((e) => e.via === 'exchange' && e.sellerProject === 'PRJ20001')).toBe(true);
    const added = now.slice(first.ledger.length);
    expect(added.length).toBeGreaterThanOrEqual(1);
    const maxBefore = Math.max(...first.ledger.map((e) => e.seq));
    for (const e of added) expect(e.seq).toBeGreaterThan(maxBefore);
    expect(new Set(now.map((e) => e.seq)).size).toBe(now.length);
  });

  it('the data folder holds no private key the sandbox issued to a seller', () => {
    const pemBody = (pem: string) => pem.split('\n').filter((l) => l.length > 40);
    const files = readdirSync(join(dir, 'state')).filter((f) => f.startsWith('sandbox.db'));
    expect(files.length).toBeGreaterThan(0);
    const bytes = files.map((f) => readFileSync(join(dir, 'state', f)).toString('latin1')).join('\n');
    for (const line of pemBody(first.sellerKey.private_key)) expect(bytes.includes(line)).toBe(false);
    for (const line of pemBody(first.integratorKey.private_key)) expect(bytes.includes(line)).toBe(false);
  });
});
