// Master key configuration handed in by the caller (env-var value or file), key generation, and the rule that
// no vault error ever quotes a master key or a plaintext.

import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  keygen,
  LocalKeyProvider,
  parseKeyConfig,
  readKeyConfigFile,
  Vault,
  VaultError,
} from '../../src/vault/index.js';
import { errorText, MemoryMeta, rejectsWith, sellerA } from './helpers.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'noon-connect-vault-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Forms in which a key could leak into a message: whole, in other encodings, and a recognisable prefix. */
function leakForms(key: string): string[] {
  const raw = Buffer.from(key, 'base64');
  return [
    key,
    key.slice(0, 12),
    raw.toString('hex'),
    raw.toString('hex').slice(0, 16),
    raw.toString('base64url'),
  ];
}

function configFails(value: string | undefined, message: RegExp): VaultError {
  let caught: unknown;
  try {
    parseKeyConfig(value);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(VaultError);
  expect((caught as VaultError).code).toBe('VAULT_CONFIG');
  expect((caught as VaultError).message).toMatch(message);
  return caught as VaultError;
}

describe('key generation', () => {
  it('keygen returns fresh standard base64 of exactly 32 bytes', () => {
    const made = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = keygen();
      expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(key, 'base64')).toHaveLength(32);
      made.add(key);
    }
    expect(made.size).toBe(200);
    expect(keygen((n) => Buffer.alloc(n, 7))).toBe(Buffer.alloc(32, 7).toString('base64'));
    expect(parseKeyConfig(keygen())).toMatchObject({ current: 'v1' });
  });
});

describe('parsing key configuration', () => {
  it('a bare key is version v1; JSON names versions and the current one; base64url and whitespace are fine', () => {
    const a = keygen();
    const b = keygen();
    expect(parseKeyConfig(`  ${a}\n`)).toEqual({ current: 'v1', keys: { v1: a } });
    expect(parseKeyConfig(JSON.stringify({ current: 'v2', keys: { v1: a, v2: b } }))).toEqual({
      current: 'v2',
      keys: { v1: a, v2: b },
    });
    const url = Buffer.from(a, 'base64').toString('base64url');
    const provider = LocalKeyProvider.fromValue(url);
    expect(provider.currentVersion).toBe('v1');
    expect(provider.versions()).toEqual(['v1']);
  });

  it('a missing value, not base64, the wrong length or a missing current version each get a clear error', () => {
    const a = keygen();
    const b = keygen();
    const errors = [
      configFails(undefined, /no vault master key is configured/),
      configFails('', /no vault master key is configured/),
      configFails('not a key at all!', /"v1" is not base64/),
      configFails(`${a.slice(0, 20)}*${a.slice(21)}`, /"v1" is not base64/),
      // Standard base64 with its padding dropped (and "+" or "/" in it, so it is not base64url either).
      configFails(Buffer.alloc(32, 0xfb).toString('base64').slice(0, -1), /"v1" is not base64/),
      configFails(randomBytes(31).toString('base64'), /decodes to 31 bytes; it must be exactly 32/),
      configFails(randomBytes(33).toString('base64'), /decodes to 33 bytes; it must be exactly 32/),
      configFails(randomBytes(16).toString('base64'), /decodes to 16 bytes/),
      configFails(JSON.stringify({ keys: { v1: a } }), /current vault key version is not set/),
      configFails(
        JSON.stringify({ current: 'v3', keys: { v1: a, v2: b } }),
        /not one of the configured versions/,
      ),
      configFails(JSON.stringify({ current: 'v1', keys: {} }), /no vault master key is configured/),
      configFails(
        JSON.stringify({ current: 'v1', keys: { v1: a }, curent: 'v1' }),
        /only have the properties/,
      ),
      configFails(JSON.stringify({ current: 'v.1', keys: { 'v.1': a } }), /version names must be/),
      configFails(JSON.stringify({ current: 'v1', keys: { v1: 42 } }), /"v1" must be a base64 string/),
      configFails(JSON.stringify({ current: 'v1', keys: { v1: '' } }), /"v1" is empty/),
      configFails(JSON.stringify({ current: 'v1', keys: [a] }), /must be an object/),
      configFails(
        JSON.stringify({ current: 'v2', keys: { v1: a, v2: a } }),
        /"v1" and "v2" are the same key/,
      ),
      configFails(`{"current":"v1","keys":{"v1":"${a}"}`, /not valid JSON/),
      configFails(`{"current":"v1","keys":{"v1":${a}}}`, /not valid JSON/),
    ];
    for (const err of errors) {
      const text = errorText(err);
      for (const form of [...leakForms(a), ...leakForms(b)]) expect(text).not.toContain(form);
    }
  });

  it('the LocalKeyProvider constructor applies the same checks to keys given in code', () => {
    expect(() => new LocalKeyProvider({ current: 'v1', keys: { v1: randomBytes(16) } })).toThrow(
      /decodes to 16 bytes/,
    );
    expect(() => new LocalKeyProvider({ current: 'v1', keys: {} })).toThrow(/no vault master key/);
    expect(new LocalKeyProvider({ current: 'v1', keys: { v1: randomBytes(32) } }).versions()).toEqual(['v1']);
  });

  it('a provider never shows its keys when inspected or serialised', () => {
    const a = keygen();
    const provider = LocalKeyProvider.fromValue(JSON.stringify({ current: 'v1', keys: { v1: a } }));
    const shown = `${inspect(provider, { showHidden: true, depth: 10 })}\n${JSON.stringify(provider)}`;
    for (const form of leakForms(a)) expect(shown).not.toContain(form);
  });
});

describe('reading key configuration from a file', () => {
  it('a file with a bare key (and a trailing newline) or the JSON form is read', async () => {
    const a = keygen();
    const b = keygen();
    const bare = join(dir, 'bare.key');
    await writeFile(bare, `${a}\n`, { mode: 0o600 });
    expect(await readKeyConfigFile(bare)).toEqual({ current: 'v1', keys: { v1: a } });
    const json = join(dir, 'keys.json');
    await writeFile(json, JSON.stringify({ current: 'v2', keys: { v1: a, v2: b } }), { mode: 0o600 });
    const provider = await LocalKeyProvider.fromFile(json);
    expect(provider.currentVersion).toBe('v2');
    expect([...provider.versions()].sort()).toEqual(['v1', 'v2']);
  });

  it('a missing, unreadable, empty or bad file is a VAULT_CONFIG error naming the file, never the key', async () => {
    const a = keygen();
    const short = join(dir, 'short.key');
    await writeFile(short, randomBytes(24).toString('base64'));
    const empty = join(dir, 'empty.key');
    await writeFile(empty, '\n');
    const broken = join(dir, 'broken.json');
    await writeFile(broken, `{"current":"v1","keys":{"v1":"${a}"`);
    const cases: [string, RegExp][] = [
      [join(dir, 'absent.key'), /absent\.key does not exist/],
      [dir, /could not be read \(EISDIR\)/],
      [short, /short\.key: vault master key "v1" decodes to 24 bytes/],
      [empty, /empty\.key: no vault master key is configured/],
      [broken, /broken\.json: vault key configuration is not valid JSON/],
    ];
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.key');
      await writeFile(locked, a);
      await chmod(locked, 0o000);
      cases.push([locked, /locked\.key is not readable/]);
    }
    for (const [path, message] of cases) {
      const err = await rejectsWith(() => readKeyConfigFile(path), 'VAULT_CONFIG');
      expect(err.message).toMatch(message);
      for (const form of leakForms(a)) expect(errorText(err)).not.toContain(form);
    }
    // A key passed where the path belongs is refused without being repeated.
    const misplaced = await rejectsWith(() => readKeyConfigFile(a), 'VAULT_CONFIG');
    expect(misplaced.message).toMatch(/looks like a key itself/);
    for (const form of leakForms(a)) expect(errorText(misplaced)).not.toContain(form);
  });
});

describe('no secret in any error', () => {
  it('no vault error message contains the master key or the plaintext', async () => {
    const key = keygen();
    const other = keygen();
    const plaintext = 'PLAINTEXT-7c1e9b seller private key material';
    const meta = new MemoryMeta();
    const vault = await Vault.open({ provider: LocalKeyProvider.fromValue(key), meta });
    const sealed = await vault.seal(plaintext, sellerA);
    const p = sealed.split('.');
    const errors: VaultError[] = [
      await rejectsWith(() => vault.open(sealed, { ...sellerA, tenant: 'x' }), 'VAULT_DECRYPT_FAILED'),
      await rejectsWith(() => vault.open(`${sealed}x`, sellerA), 'VAULT_FORMAT'),
      await rejectsWith(() => vault.open(p.slice(0, 5).join('.'), sellerA), 'VAULT_FORMAT'),
      await rejectsWith(
        () => vault.open(sealed.replace('ncv1.v1.', 'ncv1.v2.'), sellerA),
        'VAULT_KEY_MISSING',
      ),
      await rejectsWith(
        () => Vault.open({ provider: LocalKeyProvider.fromValue(other), meta }),
        'VAULT_KEY_MISMATCH',
      ),
      await rejectsWith(
        () =>
          Vault.open({
            provider: LocalKeyProvider.fromValue(JSON.stringify({ current: 'v2', keys: { v2: key } })),
            meta,
          }),
        'VAULT_KEY_MISSING',
      ),
      await rejectsWith(() => parseKeyConfig(`${key}${key}`), 'VAULT_CONFIG'),
      await rejectsWith(() => parseKeyConfig(`{${key}`), 'VAULT_CONFIG'),
    ];
    for (const err of errors) {
      const text = errorText(err);
      for (const form of [...leakForms(key), ...leakForms(other), plaintext, 'PLAINTEXT-7c1e9b', p[4]!])
        expect(text).not.toContain(form);
    }
  });
});
