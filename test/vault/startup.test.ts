// Start-up checks (K5): a missing, wrong or changed master key stops Vault.open, and a refused start writes
// nothing; the recorded fingerprints never reveal a key.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  KEYRING_META_NAME,
  keygen,
  LocalKeyProvider,
  Vault,
  VaultKeyMismatchError,
  VaultKeyMissingError,
  type VaultMeta,
} from '../../src/vault/index.js';
import { errorText, keys, MemoryMeta, rejectsWith, sellerA } from './helpers.js';

function provider(current: string, k: Record<string, string>): LocalKeyProvider {
  return new LocalKeyProvider({ current, keys: k });
}

/** A meta store whose value is set up front and which counts writes. */
function seededMeta(from: MemoryMeta): MemoryMeta {
  const m = new MemoryMeta();
  for (const [n, v] of from.values) m.values.set(n, v);
  return m;
}

describe('first start', () => {
  it('K5 first start records one fingerprint per key version, never the key nor a plain hash of it', async () => {
    const k = keys('v1', 'v2');
    const meta = new MemoryMeta();
    await Vault.open({ provider: provider('v2', k), meta });
    expect(meta.writes.map((w) => w.name)).toEqual([KEYRING_META_NAME]);
    const stored = JSON.parse(meta.values.get(KEYRING_META_NAME)!);
    expect(Object.keys(stored.active).sort()).toEqual(['v1', 'v2']);
    expect(stored.active.v1).not.toBe(stored.active.v2);
    const text = meta.values.get(KEYRING_META_NAME)!;
    for (const key of Object.values(k)) {
      const raw = Buffer.from(key, 'base64');
      for (const form of [
        key,
        raw.toString('hex'),
        raw.toString('base64url'),
        createHash('sha256').update(raw).digest('hex'),
        createHash('sha256').update(raw).digest('base64'),
        createHash('sha256').update(raw).digest('base64url'),
        createHash('sha256').update(key).digest('hex'),
      ])
        expect(text).not.toContain(form);
    }
  });

  it('K5 the same keys start again without writing anything', async () => {
    const k = keys('v1');
    const meta = new MemoryMeta();
    await Vault.open({ provider: provider('v1', k), meta });
    const second = seededMeta(meta);
    await Vault.open({ provider: provider('v1', { ...k }), meta: second });
    expect(second.writes).toEqual([]);
  });
});

describe('refusals', () => {
  it('K5 a missing master key (no value configured) refuses before any vault exists', () => {
    for (const value of [undefined, '', '  \n']) {
      expect(() => LocalKeyProvider.fromValue(value)).toThrow(
        expect.objectContaining({ code: 'VAULT_CONFIG' }),
      );
    }
  });

  it('K5 a wrong master key for a recorded version refuses with VAULT_KEY_MISMATCH and writes nothing', async () => {
    const meta = new MemoryMeta();
    const right = keygen();
    await Vault.open({ provider: provider('v1', { v1: right }), meta });
    const later = seededMeta(meta);
    const wrong = keygen();
    const err = await rejectsWith(
      () => Vault.open({ provider: provider('v1', { v1: wrong }), meta: later }),
      'VAULT_KEY_MISMATCH',
    );
    expect(err).toBeInstanceOf(VaultKeyMismatchError);
    expect((err as VaultKeyMismatchError).version).toBe('v1');
    expect(later.writes).toEqual([]);
    const text = errorText(err);
    expect(text).not.toContain(right);
    expect(text).not.toContain(wrong);
  });

  it('K5 a changed older key (v1 swapped while v2 stays) refuses, and so do swapped version names', async () => {
    const k = keys('v1', 'v2');
    const meta = new MemoryMeta();
    await Vault.open({ provider: provider('v2', k), meta });
    const changed = seededMeta(meta);
    await rejectsWith(
      () => Vault.open({ provider: provider('v2', { v1: keygen(), v2: k.v2! }), meta: changed }),
      'VAULT_KEY_MISMATCH',
    );
    const swapped = seededMeta(meta);
    await rejectsWith(
      () => Vault.open({ provider: provider('v2', { v1: k.v2!, v2: k.v1! }), meta: swapped }),
      'VAULT_KEY_MISMATCH',
    );
    expect(changed.writes).toEqual([]);
    expect(swapped.writes).toEqual([]);
  });

  it('K5 a recorded version that is no longer configured refuses with VAULT_KEY_MISSING and writes nothing', async () => {
    const k = keys('v1', 'v2');
    const meta = new MemoryMeta();
    await Vault.open({ provider: provider('v2', k), meta });
    const later = seededMeta(meta);
    const err = await rejectsWith(
      () => Vault.open({ provider: provider('v2', { v2: k.v2!, v3: keygen() }), meta: later }),
      'VAULT_KEY_MISSING',
    );
    expect(err).toBeInstanceOf(VaultKeyMissingError);
    expect((err as VaultKeyMissingError).version).toBe('v1');
    expect(later.writes).toEqual([]);
  });

  it('K5 an unreadable key record refuses to start and is left as it is', async () => {
    for (const raw of [
      'not json',
      '{}',
      '{"format":2,"active":{},"retired":{}}',
      '{"format":1,"active":[]}',
    ]) {
      const meta = new MemoryMeta();
      meta.values.set(KEYRING_META_NAME, raw);
      await rejectsWith(() => Vault.open({ provider: provider('v1', keys('v1')), meta }), 'VAULT_CONFIG');
      expect(meta.writes).toEqual([]);
      expect(meta.values.get(KEYRING_META_NAME)).toBe(raw);
    }
  });

  it('K5 a refused start leaves nothing to seal with: the only writes ever made are the key record', async () => {
    // Every write to the metadata store of a deployment whose key went wrong, across all starts.
    const all: string[] = [];
    const meta = new MemoryMeta();
    const spy: VaultMeta = {
      get: (n) => meta.get(n),
      set: async (n, v) => {
        all.push(n);
        await meta.set(n, v);
      },
    };
    const v = await Vault.open({ provider: provider('v1', keys('v1')), meta: spy });
    await v.seal('secret that must stay sealed', sellerA);
    const opened = await Vault.open({ provider: provider('v1', keys('v1')), meta: spy }).catch(
      (e: unknown) => e,
    );
    expect(opened).toBeInstanceOf(VaultKeyMismatchError);
    expect(all).toEqual([KEYRING_META_NAME]);
    expect([...meta.values.values()].join('\n')).not.toContain('secret that must stay sealed');
  });

  it('K5 two instances starting together with different keys for one version: one of them refuses', async () => {
    const shared = new MemoryMeta();
    const withCas: VaultMeta = {
      get: (n) => shared.get(n),
      set: (n, v) => shared.set(n, v),
      setIfAbsent: async (n, v) => {
        const had = shared.values.get(n);
        if (had !== undefined) return had;
        await shared.set(n, v);
        return v;
      },
    };
    const results = await Promise.allSettled([
      Vault.open({ provider: provider('v1', keys('v1')), meta: withCas }),
      Vault.open({ provider: provider('v1', keys('v1')), meta: withCas }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(VaultKeyMismatchError);
    expect(shared.writes).toHaveLength(1);

    // Without setIfAbsent the read-back after writing catches the other writer.
    const plain = new MemoryMeta();
    const plainResults = await Promise.allSettled([
      Vault.open({ provider: provider('v1', keys('v1')), meta: plain }),
      Vault.open({ provider: provider('v1', keys('v1')), meta: plain }),
    ]);
    expect(plainResults.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('K5 a provider whose current version is not among its versions is refused', async () => {
    const good = provider('v1', keys('v1'));
    const broken = {
      currentVersion: 'v2',
      versions: () => good.versions(),
      wrap: good.wrap.bind(good),
      unwrap: good.unwrap.bind(good),
      fingerprint: good.fingerprint.bind(good),
    };
    const meta = new MemoryMeta();
    await rejectsWith(() => Vault.open({ provider: broken, meta }), 'VAULT_CONFIG');
    expect(meta.writes).toEqual([]);
  });
});
