// docs/client.md runs: its TypeScript blocks, in order, become one module (imports of noon-connect/client point
// at the sources), configured for a sandbox through the environment variables the examples read.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { startSandbox } from '../helpers/sandbox.js';

let sb: Sandbox;
let docs: any;

const DOC = readFileSync('docs/client.md', 'utf8');
const BLOCKS = [...DOC.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

beforeAll(async () => {
  sb = await startSandbox();
  process.env.NOON_SANDBOX_URL = sb.url;
  process.env.NOON_KEY_FILE = sb.fixtures.integrator.keyFile!;
  process.env.NOON_CLIENT_ID = sb.fixtures.client.clientId;
  process.env.NOON_CLIENT_SECRET = sb.fixtures.client.clientSecret;
  const source = BLOCKS.join('\n').replaceAll(
    "'noon-connect/client'",
    JSON.stringify(resolve('src/client/index.ts')).replaceAll('"', "'"),
  );
  const file = join(mkdtempSync(join(tmpdir(), 'noon-client-docs-')), 'client-docs.ts');
  writeFileSync(file, source);
  docs = await import(pathToFileURL(file).href);
});
afterAll(async () => {
  await docs?.noon.close();
  await sb.close();
});

describe('docs/client.md examples run against the sandbox', () => {
  it('the page has its examples and every one imports from noon-connect/client only', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(6);
    for (const b of BLOCKS)
      for (const m of b.matchAll(/from '([^']+)'/g)) expect(m[1]).toBe('noon-connect/client');
  });

  it('NC12 the set-up block logs the integrator in', async () => {
    const me = await docs.whoAmI();
    expect(me.projectCode).toBe(sb.fixtures.integrator.projectCode);
  });

  it('NC16 consentUrl names the client and the state', () => {
    expect(docs.consentUrl('abc')).toBe(`${sb.url}/?client_id=${sb.fixtures.client.clientId}&state=abc`);
  });

  it('NC29 NC41 connectSeller stores the raw body first, then yields a seller session that reads its catalog', async () => {
    const saved: string[] = [];
    const store = { save: async (raw: string) => void saved.push(raw) };
    const { code, oauthRequestId } = sb.authorize({ projectCode: 'PRJ20003' });
    const connection = await docs.connectSeller(code, store);
    expect(saved).toHaveLength(1);
    expect(JSON.parse(saved[0]!).result.key_id).toBe(connection.credentials.keyId);
    expect(connection.oauthRequestId).toBe(oauthRequestId);
    const catalog = await docs.sellerCatalog(connection);
    expect(catalog.projectCode).toBe('PRJ20003');
    expect(catalog.items.project_code).toBe('PRJ20003');
  });

  it('NC26 redeem maps a used code to start-again and a dropped exchange to unknown', async () => {
    const store = { save: async () => {} };
    const { code } = sb.authorize({ projectCode: 'PRJ20004' });
    expect((await docs.redeem(code, store)).kind).toBe('connected');
    expect(await docs.redeem(code, store)).toEqual({ kind: 'start-again' });
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
    expect((await docs.redeem(sb.authorize({ projectCode: 'PRJ20004' }).code, store)).kind).toBe('unknown');
  });

  it('NC34 NC35 rotateKey creates a key, then removes the old one', async () => {
    const saved: string[] = [];
    const userCode = sb.fixtures.integrator.userCode;
    // A spare key to rotate away from (the fixture key itself stays: the examples log in with it).
    let spareRaw = '';
    await docs.rotateKey(userCode, 'none', {
      save: async (r: string) => {
        spareRaw = r;
      },
    });
    const spare = JSON.parse(spareRaw);
    const keys = await docs.rotateKey(userCode, spare.key_id, {
      save: async (r: string) => void saved.push(r),
    });
    expect(saved).toHaveLength(1);
    const newId = JSON.parse(saved[0]!).key_id;
    expect(keys.find((k: { keyId: string }) => k.keyId === spare.key_id).active).toBe(false);
    expect(keys.find((k: { keyId: string }) => k.keyId === newId).active).toBe(true);
  });

  it('NC7 quietClient logs structured entries with no secrets', async () => {
    const client = docs.quietClient(sb.url);
    try {
      const { NoonSession, loadCredentials } = await import('../../src/client/index.js');
      await new NoonSession(client, await loadCredentials(sb.fixtures.integrator.keyFile!)).whoami();
      expect(docs.logged.some((e: { event: string }) => e.event === 'login')).toBe(true);
      expect(JSON.stringify(docs.logged)).not.toMatch(/eyJ|_npsid=|PRIVATE/);
    } finally {
      await client.close();
    }
  });
});
