// The vault's behaviour suite run against every key provider: the local one and a PKCS#11 token (SoftHSM2).
// Sealing and context binding (K2-K4), the start-up key check (K5) and rotation with re-wrap and retire (K6)
// must hold whichever provider holds the master keys.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generatePkcs11MasterKey,
  KEYRING_META_NAME,
  type KeyProvider,
  keygen,
  LocalKeyProvider,
  Pkcs11KeyProvider,
  type SealContext,
  Vault,
  type VaultKeyMissingError,
} from '../../src/vault/index.js';
import { pkcs11SkipReason, SoftHsm, USER_PIN } from '../helpers/softhsm.js';
import { MemoryMeta, rejectsWith, sellerA } from './helpers.js';

/** What the suite needs from a provider kind: fresh master keys, and providers over a chosen set of them. */
interface ProviderKind {
  readonly name: string;
  /** A reference to a fresh master key: a base64 key, or the label of a new key object in the token. */
  newKey(): Promise<string>;
  provider(current: string, keys: Record<string, string>): Promise<KeyProvider>;
  dispose(): Promise<void>;
}

function localKind(): ProviderKind {
  return {
    name: 'local',
    newKey: async () => keygen(),
    provider: async (current, keys) => new LocalKeyProvider({ current, keys }),
    dispose: async () => {},
  };
}

const TOKEN = 'conformance';

async function pkcs11Kind(): Promise<ProviderKind> {
  const hsm = await SoftHsm.create();
  hsm.initToken(TOKEN);
  const open: Pkcs11KeyProvider[] = [];
  let n = 0;
  const base = { module: hsm.module, token: { label: TOKEN }, pin: USER_PIN };
  return {
    name: 'pkcs11 (SoftHSM2)',
    newKey: async () => {
      const label = `master-${++n}`;
      await generatePkcs11MasterKey({ ...base, label });
      return label;
    },
    provider: async (current, keys) => {
      const p = await Pkcs11KeyProvider.open({ ...base, current, keys });
      open.push(p);
      return p;
    },
    dispose: async () => {
      for (const p of open) p.close();
      await hsm.dispose();
    },
  };
}

const skip = pkcs11SkipReason();
const kinds: [string, () => Promise<ProviderKind>][] = [
  ['local', async () => localKind()],
  ...(skip ? [] : ([['pkcs11', pkcs11Kind]] as [string, () => Promise<ProviderKind>][])),
];

function parts(sealed: string): string[] {
  return sealed.split('.');
}

function seeded(from: MemoryMeta): MemoryMeta {
  const m = new MemoryMeta();
  for (const [n, v] of from.values) m.values.set(n, v);
  return m;
}

describe.each(kinds)('vault over the %s provider', (_name, make) => {
  let kind: ProviderKind;
  const k: Record<string, string> = {};

  beforeAll(async () => {
    kind = await make();
    k.v1 = await kind.newKey();
    k.v2 = await kind.newKey();
    k.other = await kind.newKey();
  });

  afterAll(async () => {
    await kind?.dispose();
  });

  const open = async (current: string, keys: Record<string, string>, meta = new MemoryMeta()) =>
    Vault.open({ provider: await kind.provider(current, keys), meta });

  it('K2 K3 seals and opens; every record has a fresh data key and IV; a changed bit anywhere fails', async () => {
    const vault = await open('v1', { v1: k.v1! });
    const a = await vault.seal('seller secret', sellerA);
    const b = await vault.seal('seller secret', sellerA);
    expect((await vault.open(a, sellerA)).toString()).toBe('seller secret');
    expect(parts(a)[2]).not.toBe(parts(b)[2]);
    expect(parts(a)[3]).not.toBe(parts(b)[3]);
    expect(Buffer.from(parts(a)[2]!, 'base64url')).toHaveLength(60);
    for (const index of [2, 3, 4, 5]) {
      const p = parts(a);
      const bytes = Buffer.from(p[index]!, 'base64url');
      bytes[bytes.length >> 1]! ^= 0x10;
      p[index] = bytes.toString('base64url');
      await rejectsWith(() => vault.open(p.join('.'), sellerA), 'VAULT_DECRYPT_FAILED');
    }
  });

  it('K4 a sealed value opens only with its own tenant, project, credential and purpose', async () => {
    const vault = await open('v1', { v1: k.v1! });
    const sealed = await vault.seal('bound secret', sellerA);
    const others: SealContext[] = [
      { ...sellerA, tenant: 'tenant-2' },
      { ...sellerA, project: 'PRJ20002' },
      { ...sellerA, credentialId: 'cred-0002' },
      { ...sellerA, purpose: 'access-token' },
    ];
    for (const context of others)
      await rejectsWith(() => vault.open(sealed, context), 'VAULT_DECRYPT_FAILED');
    // The wrapped data key is bound to its version too: naming another configured version fails.
    const both = await open('v1', { v1: k.v1!, v2: k.v2! });
    const p = parts(sealed);
    p[1] = 'v2';
    await rejectsWith(() => both.open(p.join('.'), sellerA), 'VAULT_DECRYPT_FAILED');
  });

  it('K5 first start records fingerprints; a restart writes nothing; a changed key or a dropped version refuses', async () => {
    const meta = new MemoryMeta();
    await open('v2', { v1: k.v1!, v2: k.v2! }, meta);
    expect(meta.writes.map((w) => w.name)).toEqual([KEYRING_META_NAME]);
    const record = JSON.parse(meta.values.get(KEYRING_META_NAME)!);
    expect(Object.keys(record.active).sort()).toEqual(['v1', 'v2']);
    expect(record.active.v1).not.toBe(record.active.v2);

    const again = seeded(meta);
    await open('v2', { v1: k.v1!, v2: k.v2! }, again);
    expect(again.writes).toEqual([]);

    const changed = seeded(meta);
    await rejectsWith(() => open('v2', { v1: k.other!, v2: k.v2! }, changed), 'VAULT_KEY_MISMATCH');
    const swapped = seeded(meta);
    await rejectsWith(() => open('v2', { v1: k.v2!, v2: k.v1! }, swapped), 'VAULT_KEY_MISMATCH');
    const dropped = seeded(meta);
    const err = await rejectsWith(() => open('v2', { v2: k.v2! }, dropped), 'VAULT_KEY_MISSING');
    expect((err as VaultKeyMissingError).version).toBe('v1');
    expect([...changed.writes, ...swapped.writes, ...dropped.writes]).toEqual([]);
  });

  it('K6 rotation: v2 current, v1 records open, re-wrap keeps the payload, v1 retired and dropped', async () => {
    const meta = new MemoryMeta();
    const old = await open('v1', { v1: k.v1! }, meta);
    const rows = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const context = { ...sellerA, credentialId: `cred-${i}` };
        return { context, plaintext: `secret ${i}`, sealed: await old.seal(`secret ${i}`, context) };
      }),
    );
    const vault = await open('v2', { v1: k.v1!, v2: k.v2! }, meta);
    for (const row of rows) {
      expect(vault.needsRewrap(row.sealed)).toBe(true);
      const moved = await vault.rewrap(row.sealed, row.context);
      expect(vault.keyVersionOf(moved)).toBe('v2');
      expect(parts(moved).slice(3)).toEqual(parts(row.sealed).slice(3));
      expect(await vault.rewrap(moved, row.context)).toBe(moved);
      row.sealed = moved;
    }
    await vault.retire('v1');
    const after = await open('v2', { v2: k.v2! }, meta);
    for (const row of rows)
      expect((await after.open(row.sealed, row.context)).toString()).toBe(row.plaintext);
    // A retired name never comes back with other key material, nor as the current version.
    await rejectsWith(() => open('v2', { v1: k.other!, v2: k.v2! }, seeded(meta)), 'VAULT_KEY_MISMATCH');
    await rejectsWith(() => open('v1', { v1: k.v1!, v2: k.v2! }, seeded(meta)), 'VAULT_CONFIG');
  });

  it('the provider contract: unwrap authenticates its AAD and version, and wrap never repeats an IV', async () => {
    const provider = await kind.provider('v2', { v1: k.v1!, v2: k.v2! });
    const dek = Buffer.alloc(32, 0x5a);
    const aad = Buffer.from('aad of record 1');
    const wrapped = await provider.wrap(dek, aad, 'v2');
    expect((await provider.unwrap(wrapped, aad, 'v2')).equals(dek)).toBe(true);
    await rejectsWith(
      () => provider.unwrap(wrapped, Buffer.from('aad of record 2'), 'v2'),
      'VAULT_DECRYPT_FAILED',
    );
    await rejectsWith(() => provider.unwrap(wrapped, aad, 'v1'), 'VAULT_DECRYPT_FAILED');
    await rejectsWith(() => provider.unwrap(wrapped.subarray(1), aad, 'v2'), 'VAULT_DECRYPT_FAILED');
    await rejectsWith(() => provider.unwrap(wrapped, aad, 'v9'), 'VAULT_KEY_MISSING');
    const ivs = new Set<string>();
    for (let i = 0; i < 50; i++)
      ivs.add((await provider.wrap(dek, aad, 'v2')).subarray(0, 12).toString('hex'));
    expect(ivs.size).toBe(50);
    expect(await provider.fingerprint('v2')).toBe(await provider.fingerprint('v2'));
    expect(await provider.fingerprint('v1')).not.toBe(await provider.fingerprint('v2'));
  });
});
