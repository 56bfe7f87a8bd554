// Master key rotation (K6): a new current version, old records still open, re-wrap without touching the
// payload, then the old version retired and removed.

import { beforeAll, describe, expect, it } from 'vitest';
import {
  type KeyProvider,
  keygen,
  LocalKeyProvider,
  type SealContext,
  Vault,
  type VaultKeyMissingError,
} from '../../src/vault/index.js';
import { keys, MemoryMeta, rejectsWith, sellerA } from './helpers.js';

interface Row {
  context: SealContext;
  plaintext: string;
  sealed: string;
}

/** Wraps a provider and counts its calls, so a test can see how much work a re-wrap did. */
function counting(inner: KeyProvider): KeyProvider & { calls: Record<'wrap' | 'unwrap', number> } {
  const calls = { wrap: 0, unwrap: 0 };
  return {
    calls,
    currentVersion: inner.currentVersion,
    versions: () => inner.versions(),
    wrap: (...a) => {
      calls.wrap++;
      return inner.wrap(...a);
    },
    unwrap: (...a) => {
      calls.unwrap++;
      return inner.unwrap(...a);
    },
    fingerprint: (v) => inner.fingerprint(v),
  };
}

function parts(sealed: string): string[] {
  return sealed.split('.');
}

const k = keys('v1', 'v2');
const meta = new MemoryMeta();
const rows: Row[] = [];

beforeAll(async () => {
  const v1 = await Vault.open({
    provider: new LocalKeyProvider({ current: 'v1', keys: { v1: k.v1! } }),
    meta,
  });
  for (let i = 0; i < 40; i++) {
    const context = {
      ...sellerA,
      tenant: `tenant-${i % 3}`,
      credentialId: `cred-${i}`,
      purpose: ['seller-private-key', 'exchange-body', 'access-token'][i % 3]!,
    };
    const plaintext = `secret number ${i} ${'x'.repeat(i)}`;
    rows.push({ context, plaintext, sealed: await v1.seal(plaintext, context) });
  }
});

describe('master key rotation', () => {
  it('K6 rotation end to end: v2 current, v1 records open, re-wrap moves all to v2, v1 retired and removed', async () => {
    // Step 1: every instance learns v2 while v1 stays current (a rolling deploy can still open v2 records).
    await Vault.open({ provider: new LocalKeyProvider({ current: 'v1', keys: k }), meta });

    // Step 2: v2 becomes current. New seals name it; every v1 record still opens.
    const provider = counting(new LocalKeyProvider({ current: 'v2', keys: k }));
    const vault = await Vault.open({ provider, meta });
    expect(vault.currentVersion).toBe('v2');
    const fresh = await vault.seal('new secret', sellerA);
    expect(vault.keyVersionOf(fresh)).toBe('v2');
    expect(vault.needsRewrap(fresh)).toBe(false);
    for (const row of rows) {
      expect(vault.keyVersionOf(row.sealed)).toBe('v1');
      expect(vault.needsRewrap(row.sealed)).toBe(true);
      expect((await vault.open(row.sealed, row.context)).toString()).toBe(row.plaintext);
    }

    // Step 3: re-wrap. Only the version and the wrapped data key change; IV, ciphertext and tag stay
    // byte-identical, and each record costs one unwrap and one wrap of its 32-byte data key.
    const before = { ...provider.calls };
    const rewrapped: Row[] = [];
    for (const row of rows) {
      const sealed = await vault.rewrap(row.sealed, row.context);
      const [format, version, wrapped, iv, ciphertext, tag] = parts(sealed);
      const old = parts(row.sealed);
      expect([format, version]).toEqual(['ncv1', 'v2']);
      expect(wrapped).not.toBe(old[2]);
      expect(Buffer.from(iv!, 'base64url').equals(Buffer.from(old[3]!, 'base64url'))).toBe(true);
      expect(Buffer.from(ciphertext!, 'base64url').equals(Buffer.from(old[4]!, 'base64url'))).toBe(true);
      expect(Buffer.from(tag!, 'base64url').equals(Buffer.from(old[5]!, 'base64url'))).toBe(true);
      expect(vault.needsRewrap(sealed)).toBe(false);
      rewrapped.push({ ...row, sealed });
    }
    expect(provider.calls.unwrap - before.unwrap).toBe(rows.length);
    expect(provider.calls.wrap - before.wrap).toBe(rows.length);
    // A second pass moves nothing.
    for (const row of rewrapped) expect(await vault.rewrap(row.sealed, row.context)).toBe(row.sealed);

    // v1 cannot be dropped from the configuration before it is retired: it may still have sealed data.
    const onlyV2 = () => new LocalKeyProvider({ current: 'v2', keys: { v2: k.v2! } });
    const early = new MemoryMeta();
    for (const [n, v] of meta.values) early.values.set(n, v);
    const err = await rejectsWith(() => Vault.open({ provider: onlyV2(), meta: early }), 'VAULT_KEY_MISSING');
    expect((err as VaultKeyMissingError).version).toBe('v1');
    expect(early.writes).toEqual([]);

    // Step 4: retire v1, then remove it. Everything still opens with v2 alone.
    await vault.retire('v1');
    const after = await Vault.open({ provider: onlyV2(), meta });
    for (const row of rewrapped)
      expect((await after.open(row.sealed, row.context)).toString()).toBe(row.plaintext);
    expect((await after.open(fresh, sellerA)).toString()).toBe('new secret');
    // A copy left under v1 (a record the re-wrap missed) no longer opens, and says why.
    await rejectsWith(() => after.open(rows[0]!.sealed, rows[0]!.context), 'VAULT_KEY_MISSING');
  });

  it('K6 re-wrap never decrypts the payload: a damaged payload re-wraps, and only open notices', async () => {
    const vault = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v2', keys: k }),
      meta: new MemoryMeta(),
    });
    const old = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v1', keys: k }),
      meta: new MemoryMeta(),
    });
    const sealed = await old.seal('payload that re-wrap must not read', sellerA);
    const p = parts(sealed);
    const ct = Buffer.from(p[4]!, 'base64url');
    ct[0]! ^= 0x01;
    p[4] = ct.toString('base64url');
    const damaged = p.join('.');
    const moved = await vault.rewrap(damaged, sellerA);
    expect(vault.keyVersionOf(moved)).toBe('v2');
    expect(parts(moved)[4]).toBe(p[4]);
    await rejectsWith(() => vault.open(moved, sellerA), 'VAULT_DECRYPT_FAILED');
  });

  it('K6 retire refuses the current version and unknown versions; a retired name never comes back', async () => {
    const m = new MemoryMeta();
    const kk = keys('v1', 'v2');
    const vault = await Vault.open({ provider: new LocalKeyProvider({ current: 'v2', keys: kk }), meta: m });
    await rejectsWith(() => vault.retire('v2'), 'VAULT_CONFIG');
    await rejectsWith(() => vault.retire('v7'), 'VAULT_CONFIG');
    await vault.retire('v1');
    await vault.retire('v1'); // idempotent
    const snapshot = () => {
      const copy = new MemoryMeta();
      for (const [n, v] of m.values) copy.values.set(n, v);
      return copy;
    };
    // The same v1 key may stay configured (not current): start-up passes and v1 records still open.
    await Vault.open({ provider: new LocalKeyProvider({ current: 'v2', keys: kk }), meta: snapshot() });
    // Other material under the retired name, or the retired name as current, is refused.
    const other = snapshot();
    await rejectsWith(
      () =>
        Vault.open({
          provider: new LocalKeyProvider({ current: 'v2', keys: { ...kk, v1: keygen() } }),
          meta: other,
        }),
      'VAULT_KEY_MISMATCH',
    );
    const back = snapshot();
    await rejectsWith(
      () => Vault.open({ provider: new LocalKeyProvider({ current: 'v1', keys: kk }), meta: back }),
      'VAULT_CONFIG',
    );
    expect(other.writes).toEqual([]);
    expect(back.writes).toEqual([]);
  });
});
