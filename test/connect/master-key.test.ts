// K6 and K5 at the connector level: master-key rotation over the connector's real data, and start-up refusals.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnector, rewrapAll } from '../../src/connect/index.js';
import type { SqlStore } from '../../src/store/index.js';
import { keygen, LocalKeyProvider, Vault } from '../../src/vault/index.js';
import { noonParts, type Stack, startStack } from '../helpers/harness.js';
import { connectThrough } from '../helpers/seller-flow.js';

function metaOf(store: SqlStore) {
  return {
    get: (n: string) => store.getMeta(n),
    set: (n: string, v: string) => store.setMeta(n, v),
    setIfAbsent: (n: string, v: string) => store.setMetaIfAbsent(n, v),
  };
}

async function versionsInStore(store: SqlStore): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const v of await store.listSealedValues({ limit: 10_000 })) {
    const version = v.sealed.split('.')[1]!;
    counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  return counts;
}

describe('master key at the connector level', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
    await connectThrough(stack, { tenant: 't1', projectCode: 'PRJ20001' });
    await connectThrough(stack, { tenant: 't2', projectCode: 'PRJ20003' });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('K6 rotation: new writes use the new version, old records still open, re-wrap moves all, then v1 retires', async () => {
    const store = stack.store as SqlStore;
    expect([...(await versionsInStore(store)).keys()]).toEqual(['v1']);
    const v2 = keygen();
    const vault2 = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v2', keys: { v1: stack.masterKey, v2 } }),
      meta: metaOf(store),
    });
    const parts = noonParts(stack.sb, stack.clientId, stack.clientSecret);
    const connector2 = await createConnector({
      noon: parts,
      store,
      vault: vault2,
      environment: 'sandbox',
      publicUrl: stack.origin,
      clock: { now: () => stack.sb.clock.now() },
    });
    // An old record opens under the two-version vault.
    const s1 = await connector2.sellerSession('t1', 'PRJ20001');
    expect((await s1.whoami()).projectCode).toBe('PRJ20001');
    // A new write names v2.
    const conn = (await connector2.listConnections({ tenant: 't2' }))[0]!;
    await connector2.rotate(conn.id);
    const mixed = await versionsInStore(store);
    expect(mixed.get('v2')).toBeGreaterThan(0);
    expect(mixed.get('v1')).toBeGreaterThan(0);
    // Re-wrap moves everything to v2; a second run finds nothing left.
    const report = await rewrapAll(store, vault2);
    expect(report.remaining).toBe(0);
    expect(report.rewrapped).toBe(mixed.get('v1'));
    expect([...(await versionsInStore(store)).keys()]).toEqual(['v2']);
    expect((await rewrapAll(store, vault2)).rewrapped).toBe(0);
    // v1 retires; a vault with only v2 opens and every record still opens.
    await vault2.retire('v1');
    const vault3 = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v2', keys: { v2 } }),
      meta: metaOf(store),
    });
    const connector3 = await createConnector({
      noon: parts,
      store,
      vault: vault3,
      environment: 'sandbox',
      publicUrl: stack.origin,
      clock: { now: () => stack.sb.clock.now() },
    });
    for (const [tenant, project] of [
      ['t1', 'PRJ20001'],
      ['t2', 'PRJ20003'],
    ] as const) {
      const s = await connector3.sellerSession(tenant, project);
      expect((await s.whoami()).projectCode).toBe(project);
    }
    // The state key moved too: a new connect works end to end under v2 only.
    const r = await connector3.start({ tenant: 't3' });
    expect(r.url).toContain('state=');
  });

  it('K5 a wrong or missing master key stops start-up and writes nothing', async () => {
    const store = stack.store as SqlStore;
    const before = await store.getMeta('vault.keyring');
    await expect(
      Vault.open({
        provider: new LocalKeyProvider({ current: 'v2', keys: { v2: keygen() } }),
        meta: metaOf(store),
      }),
    ).rejects.toMatchObject({
      code: 'VAULT_KEY_MISMATCH',
    });
    await expect(
      Vault.open({
        provider: new LocalKeyProvider({ current: 'v9', keys: { v9: keygen() } }),
        meta: metaOf(store),
      }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/VAULT_KEY_MISSING|VAULT_KEY_MISMATCH/),
    });
    expect(await store.getMeta('vault.keyring')).toBe(before);
  });
});
