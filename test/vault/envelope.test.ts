// Sealing and opening: the sealed format, fresh randomness per record (K2), tamper detection (K3) and the
// binding of every sealed value to its tenant, project, credential and purpose (K4).

import { createDecipheriv, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { gcmDecrypt, gcmEncrypt } from '../../src/vault/aead.js';
import { encodeAad } from '../../src/vault/encoding.js';
import { LocalKeyProvider, type SealContext, Vault } from '../../src/vault/index.js';
import { pemLine } from '../helpers/pem.js';
import { errorText, keys, MemoryMeta, rejectsWith, sellerA } from './helpers.js';

const SECRET = `${pemLine('BEGIN', 'PRIVATE KEY')}\nnot-a-key seller secret 7f3a\n`;

let vault: Vault;

beforeAll(async () => {
  vault = await Vault.open({
    provider: new LocalKeyProvider({ current: 'v1', keys: keys('v1') }),
    meta: new MemoryMeta(),
  });
});

/** The six dot-separated parts of a sealed value. */
function parts(sealed: string): string[] {
  return sealed.split('.');
}

/** Replaces part `index` (decoded bytes) through `edit` and rebuilds the sealed value. */
function editPart(sealed: string, index: number, edit: (bytes: Buffer) => Buffer): string {
  const p = parts(sealed);
  p[index] = edit(Buffer.from(p[index]!, 'base64url')).toString('base64url');
  return p.join('.');
}

function flipBit(bytes: Buffer, bit: number): Buffer {
  const out = Buffer.from(bytes);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

describe('sealed format', () => {
  it('a sealed value is ncv1.<version>.<wrapped key>.<iv>.<ciphertext>.<tag> in base64url', async () => {
    const sealed = await vault.seal(SECRET, sellerA);
    expect(sealed).toMatch(
      /^ncv1\.v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/,
    );
    const p = parts(sealed);
    expect(Buffer.from(p[2]!, 'base64url')).toHaveLength(60);
    expect(Buffer.from(p[3]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(p[4]!, 'base64url')).toHaveLength(Buffer.byteLength(SECRET));
    expect(Buffer.from(p[5]!, 'base64url')).toHaveLength(16);
    expect(sealed).not.toContain('seller secret');
    expect(vault.keyVersionOf(sealed)).toBe('v1');
    expect(vault.needsRewrap(sealed)).toBe(false);
  });

  it('strings, bytes, empty and large plaintexts round-trip', async () => {
    const big = randomBytes(1 << 20);
    const cases: [string | Uint8Array, Buffer][] = [
      [SECRET, Buffer.from(SECRET)],
      ['ключ 🔑 مفتاح', Buffer.from('ключ 🔑 مفتاح')],
      ['', Buffer.alloc(0)],
      [new Uint8Array([0, 1, 2, 255]), Buffer.from([0, 1, 2, 255])],
      [big, big],
    ];
    for (const [input, expected] of cases) {
      const opened = await vault.open(await vault.seal(input, sellerA), sellerA);
      expect(opened.equals(expected)).toBe(true);
    }
  });

  it('malformed sealed values are refused with VAULT_FORMAT before any decryption', async () => {
    const good = await vault.seal(SECRET, sellerA);
    const p = parts(good);
    const with_ = (i: number, v: string) => p.map((x, j) => (j === i ? v : x)).join('.');
    const bad: unknown[] = [
      undefined,
      42,
      '',
      'ncv1',
      p.slice(0, 5).join('.'),
      `${good}.`,
      `${good}.AAAA`,
      with_(0, 'ncv2'),
      with_(0, 'NCV1'),
      with_(1, ''),
      with_(1, 'v 1'),
      with_(1, 'x'.repeat(65)),
      with_(2, ''),
      with_(2, `${p[2]}=`),
      with_(2, p[2]!.replace(/^./, '+')),
      with_(3, `${p[3]}AA`),
      with_(3, p[3]!.slice(0, -2)),
      with_(3, ` ${p[3]}`),
      with_(4, `${p[4]}===`),
      with_(
        5,
        p[5]!.replace(/.$/, (c) => (c === 'B' ? 'C' : 'B')),
      ), // non-zero trailing bits
      with_(5, Buffer.alloc(17).toString('base64url')),
      with_(2, randomBytes(4097).toString('base64url')),
    ];
    for (const sealed of bad) {
      const err = await rejectsWith(() => vault.open(sealed as string, sellerA), 'VAULT_FORMAT');
      expect(errorText(err)).not.toContain(p[4]!);
      expect(() => vault.keyVersionOf(sealed as string)).toThrow(
        expect.objectContaining({ code: 'VAULT_FORMAT' }),
      );
    }
  });

  it('misuse: a missing, empty or ill-formed context field is a coded TypeError, nothing is sealed', async () => {
    const broken: unknown[] = [
      undefined,
      { ...sellerA, tenant: '' },
      { ...sellerA, project: undefined },
      { ...sellerA, credentialId: 7 },
      { ...sellerA, purpose: '\ud800' },
    ];
    for (const context of broken) {
      await expect(vault.seal(SECRET, context as SealContext)).rejects.toMatchObject({
        name: 'TypeError',
        code: 'ERR_VAULT_INVALID_ARGUMENT',
      });
    }
    await expect(vault.seal(42 as unknown as string, sellerA)).rejects.toBeInstanceOf(TypeError);
  });

  it('randomness is injectable: the same random stream gives the same sealed value', async () => {
    function seeded(): (n: number) => Buffer {
      let counter = 0;
      return (n) => Buffer.alloc(n, ++counter);
    }
    const k = keys('v1');
    const one = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v1', keys: k, random: seeded() }),
      meta: new MemoryMeta(),
      random: seeded(),
    });
    const two = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v1', keys: k, random: seeded() }),
      meta: new MemoryMeta(),
      random: seeded(),
    });
    const sealed = await one.seal(SECRET, sellerA);
    expect(await two.seal(SECRET, sellerA)).toBe(sealed);
    expect((await two.open(sealed, sellerA)).toString()).toBe(SECRET);
    const short = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v1', keys: k }),
      meta: new MemoryMeta(),
      random: (n) => Buffer.alloc(n - 1),
    });
    await expect(short.seal(SECRET, sellerA)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('fresh randomness per record', () => {
  it('K2 10,000 seals of one plaintext give 10,000 distinct data keys, IVs, wrapped keys and ciphertexts', async () => {
    const deks = new Set<string>();
    const recording = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v1', keys: keys('v1') }),
      meta: new MemoryMeta(),
      random: (n) => {
        const bytes = randomBytes(n);
        // The vault wipes each data key after use, so the test keeps its own copy.
        if (n === 32) deks.add(bytes.toString('hex'));
        return bytes;
      },
    });
    const N = 10_000;
    const ivs = new Set<string>();
    const wrapped = new Set<string>();
    const ciphertexts = new Set<string>();
    const tags = new Set<string>();
    const sealedAll: string[] = [];
    for (let i = 0; i < N; i++) {
      const sealed = await recording.seal(SECRET, sellerA);
      const p = parts(sealed);
      wrapped.add(p[2]!);
      ivs.add(p[3]!);
      ciphertexts.add(p[4]!);
      tags.add(p[5]!);
      sealedAll.push(sealed);
    }
    expect(deks.size).toBe(N);
    expect(ivs.size).toBe(N);
    expect(wrapped.size).toBe(N);
    expect(ciphertexts.size).toBe(N);
    expect(tags.size).toBe(N);
    expect(new Set(sealedAll).size).toBe(N);
    for (const sealed of sealedAll) expect((await recording.open(sealed, sellerA)).toString()).toBe(SECRET);
  });
});

describe('tamper detection', () => {
  const names = ['wrapped key', 'iv', 'ciphertext', 'tag'] as const;

  it('K3 flipping any single bit of the wrapped key, IV, ciphertext or tag makes open fail; no plaintext', async () => {
    const sealed = await vault.seal(SECRET, sellerA);
    let tried = 0;
    for (const [offset, name] of names.entries()) {
      const index = offset + 2;
      const bits = Buffer.from(parts(sealed)[index]!, 'base64url').length * 8;
      for (let bit = 0; bit < bits; bit++) {
        const tampered = editPart(sealed, index, (b) => flipBit(b, bit));
        expect(tampered, `${name} bit ${bit}`).not.toBe(sealed);
        const err = await rejectsWith(() => vault.open(tampered, sellerA), 'VAULT_DECRYPT_FAILED');
        expect(errorText(err)).not.toContain('seller secret');
        expect(err.cause).toBeUndefined();
        tried++;
      }
    }
    // 60-byte wrapped key, 12-byte IV, the ciphertext, 16-byte tag.
    expect(tried).toBe((60 + 12 + Buffer.byteLength(SECRET) + 16) * 8);
    expect((await vault.open(sealed, sellerA)).toString()).toBe(SECRET);
  });

  it('K3 a shortened tag (15, 12, 8, 4 bytes or none) is refused with the typed error', async () => {
    const sealed = await vault.seal(SECRET, sellerA);
    for (const length of [15, 12, 8, 4, 0]) {
      const shortened = editPart(sealed, 5, (tag) => tag.subarray(0, length));
      const err = await rejectsWith(() => vault.open(shortened, sellerA), 'VAULT_FORMAT');
      expect(errorText(err)).not.toContain('seller secret');
    }
  });

  it('K3 the cipher layer itself refuses a truncated tag that a default Node decipher would accept', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const aad = Buffer.from('aad');
    const { ciphertext, tag } = gcmEncrypt(key, iv, Buffer.from(SECRET), aad);
    const prefix = tag.subarray(0, 4);
    // Why authTagLength matters: without it Node verifies only the 4 bytes it is given.
    const lax = createDecipheriv('aes-256-gcm', key, iv);
    lax.setAAD(aad);
    lax.setAuthTag(prefix);
    expect(Buffer.concat([lax.update(ciphertext), lax.final()]).toString()).toBe(SECRET);
    for (const length of [4, 8, 12, 15]) {
      expect(() => gcmDecrypt(key, iv, ciphertext, tag.subarray(0, length), aad)).toThrow(
        expect.objectContaining({ code: 'VAULT_DECRYPT_FAILED' }),
      );
    }
    expect(gcmDecrypt(key, iv, ciphertext, tag, aad).toString()).toBe(SECRET);
  });

  it('K3 a wrapped key taken from another record of the same seller does not open this one', async () => {
    const one = await vault.seal(SECRET, sellerA);
    const two = await vault.seal(SECRET, sellerA);
    const spliced = [...parts(one).slice(0, 2), parts(two)[2], ...parts(one).slice(3)].join('.');
    await rejectsWith(() => vault.open(spliced, sellerA), 'VAULT_DECRYPT_FAILED');
  });

  it('K3 relabelling the key version does not open with the other version', async () => {
    const k = keys('v1', 'v2');
    const two = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v2', keys: k }),
      meta: new MemoryMeta(),
    });
    const sealed = await two.seal(SECRET, sellerA);
    const relabelled = sealed.replace(/^ncv1\.v2\./, 'ncv1.v1.');
    await rejectsWith(() => two.open(relabelled, sellerA), 'VAULT_DECRYPT_FAILED');
    await rejectsWith(
      () => two.open(sealed.replace(/^ncv1\.v2\./, 'ncv1.v9.'), sellerA),
      'VAULT_KEY_MISSING',
    );
  });
});

describe('binding to the seller and purpose', () => {
  const others: [string, SealContext][] = [
    ['tenant', { ...sellerA, tenant: 'tenant-2' }],
    ['project', { ...sellerA, project: 'PRJ20002' }],
    ['credential id', { ...sellerA, credentialId: 'cred-0002' }],
    ['purpose', { ...sellerA, purpose: 'access-token' }],
  ];

  for (const [field, sellerB] of others) {
    it(`K4 seller A's sealed value opened with seller B's context (different ${field}) fails`, async () => {
      const sealed = await vault.seal(SECRET, sellerA);
      const err = await rejectsWith(() => vault.open(sealed, sellerB), 'VAULT_DECRYPT_FAILED');
      expect(errorText(err)).not.toContain('seller secret');
      await rejectsWith(() => vault.rewrap(sealed, sellerB), 'VAULT_DECRYPT_FAILED');
      expect((await vault.open(sealed, sellerA)).toString()).toBe(SECRET);
    });
  }

  it('K4 contexts that concatenate to the same text still differ (length-prefixed AAD)', async () => {
    const pairs: [SealContext, SealContext][] = [
      [
        { ...sellerA, tenant: 'ab', project: 'c' },
        { ...sellerA, tenant: 'a', project: 'bc' },
      ],
      [
        { ...sellerA, tenant: 't|p', project: 'x' },
        { ...sellerA, tenant: 't', project: 'p|x' },
      ],
      [
        { ...sellerA, credentialId: 'c\u0000', purpose: 'p' },
        { ...sellerA, credentialId: 'c', purpose: '\u0000p' },
      ],
      [
        { ...sellerA, tenant: '{"a":1}', project: 'b' },
        { ...sellerA, tenant: '{"a":1', project: '}b' },
      ],
    ];
    for (const [a, b] of pairs) {
      expect(encodeAad('label', a).equals(encodeAad('label', b))).toBe(false);
      const sealed = await vault.seal(SECRET, a);
      await rejectsWith(() => vault.open(sealed, b), 'VAULT_DECRYPT_FAILED');
      expect((await vault.open(sealed, a)).toString()).toBe(SECRET);
    }
  });

  it('K4 a sealed value moved to another seller row fails even when only the wrapped key is moved', async () => {
    const sellerB = { ...sellerA, project: 'PRJ20002' };
    const a = await vault.seal(SECRET, sellerA);
    const b = await vault.seal('seller B secret', sellerB);
    // B's payload with A's wrapped data key, opened as B: the data key is bound to A.
    const mixed = [...parts(b).slice(0, 2), parts(a)[2], ...parts(b).slice(3)].join('.');
    await rejectsWith(() => vault.open(mixed, sellerB), 'VAULT_DECRYPT_FAILED');
    await rejectsWith(() => vault.open(mixed, sellerA), 'VAULT_DECRYPT_FAILED');
  });
});
