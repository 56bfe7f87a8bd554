// The PKCS#11 provider on a real token (SoftHSM2): keys made inside the token and never readable, the start-up
// fingerprint, configuration from the environment, `vault keygen --pkcs11`, and a clear coded error, with
// nothing lost, for a wrong PIN, a missing key label, an unsuitable key, a removed token and a refused operation.

import { cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vaultCommand } from '../../src/cli/vault.js';
import {
  describePkcs11,
  generatePkcs11MasterKey,
  KEYRING_META_NAME,
  openPkcs11KeyProvider,
  Pkcs11Error,
  Pkcs11KeyProvider,
  type Pkcs11Reason,
  parsePkcs11Env,
  pkcs11KeyProviderFromEnv,
  readPinFile,
  Vault,
} from '../../src/vault/index.js';
import { CKA, CKK_AES, CKO_SECRET_KEY } from '../../src/vault/pkcs11/constants.js';
import { Pkcs11Token } from '../../src/vault/pkcs11/token.js';
import {
  makeAesKey,
  pkcs11SkipReason,
  readAttributes,
  SO_PIN,
  SoftHsm,
  USER_PIN,
} from '../helpers/softhsm.js';
import { errorText, MemoryMeta, rejectsWith, sellerA } from './helpers.js';

const skip = pkcs11SkipReason();

/** Runs `fn`, expects a Pkcs11Error with `reason`, checks it never shows a PIN, and returns it. */
async function refusedWith(fn: () => Promise<unknown>, reason: Pkcs11Reason): Promise<Pkcs11Error> {
  const err = (await rejectsWith(fn, 'VAULT_HSM')) as Pkcs11Error;
  expect(err).toBeInstanceOf(Pkcs11Error);
  expect(err.reason).toBe(reason);
  for (const pin of [USER_PIN, SO_PIN, 'wrong-pin-13579']) expect(errorText(err)).not.toContain(pin);
  return err;
}

describe.skipIf(skip)('PKCS#11 key provider (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let pinFile: string;
  /** Everything a test opened; closed after each test, so the module is finalised between tests. */
  const opened: { close(): void }[] = [];
  const track = <T extends { close(): void }>(p: T): T => {
    opened.push(p);
    return p;
  };
  const base = () => ({ module: hsm.module, token: { label: 'main' }, pin: USER_PIN });
  const provider = async (keys: Record<string, string>, current = 'v1', token = 'main') =>
    track(await Pkcs11KeyProvider.open({ ...base(), token: { label: token }, current, keys }));
  const env = (extra: Record<string, string> = {}) => ({
    NOON_CONNECT_PKCS11_MODULE: hsm.module,
    NOON_CONNECT_PKCS11_TOKEN_LABEL: 'main',
    NOON_CONNECT_PKCS11_PIN_FILE: pinFile,
    NOON_CONNECT_PKCS11_KEY_LABEL: 'master-v1',
    ...extra,
  });

  /** A raw session on a token, for what the provider itself never does (reading attributes, odd keys). */
  const raw = async (token = 'main') => track(await Pkcs11Token.open({ ...base(), token: { label: token } }));

  beforeAll(async () => {
    hsm = await SoftHsm.create();
    for (const label of ['main', 'removable', 'refusing']) hsm.initToken(label);
    pinFile = await hsm.pinFile();
    await generatePkcs11MasterKey({ ...base(), label: 'master-v1' });
    await generatePkcs11MasterKey({ ...base(), label: 'master-v2' });
  });

  afterEach(() => {
    for (const p of opened.splice(0).reverse()) p.close();
  });

  afterAll(async () => {
    await hsm?.dispose();
  });

  describe('keys made in the token', () => {
    it('keygen makes a sensitive, never-extractable AES-256 key whose value the token will not give out', async () => {
      const fingerprint = await generatePkcs11MasterKey({ ...base(), label: 'made-here' });
      expect(fingerprint).toMatch(/^pkcs11-gcm:[A-Za-z0-9_-]{43}$/);
      const t = await raw();
      const attrs = [
        { type: CKA.VALUE, value: Buffer.alloc(32) },
        { type: CKA.KEY_TYPE, value: Buffer.alloc(t.cryptoki.ulongBytes) },
        { type: CKA.SENSITIVE, value: Buffer.alloc(1) },
        { type: CKA.EXTRACTABLE, value: Buffer.alloc(1) },
        { type: CKA.NEVER_EXTRACTABLE, value: Buffer.alloc(1) },
        { type: CKA.MODIFIABLE, value: Buffer.alloc(1) },
      ];
      const lengths = readAttributes(t, CKO_SECRET_KEY, 'made-here', attrs);
      expect(lengths[0]).toBe(-1);
      expect(attrs[0]!.value.equals(Buffer.alloc(32))).toBe(true);
      expect(t.cryptoki.readUlong(attrs[1]!.value)).toBe(CKK_AES);
      expect(attrs.slice(2).map((a) => a.value[0])).toEqual([1, 0, 1, 0]);
    });

    it('keygen refuses a label already in use, and the existing key is untouched', async () => {
      const before = await (await provider({ v1: 'master-v1' })).fingerprint('v1');
      await refusedWith(() => generatePkcs11MasterKey({ ...base(), label: 'master-v1' }), 'KEY_EXISTS');
      expect(await (await provider({ v1: 'master-v1' })).fingerprint('v1')).toBe(before);
    });

    it('the fingerprint is computed inside the token, is the same in every session, and differs per key', async () => {
      const a = await provider({ v1: 'master-v1', v2: 'master-v2' }, 'v2');
      const first = [await a.fingerprint('v1'), await a.fingerprint('v2')];
      a.close();
      const b = await provider({ v1: 'master-v1', v2: 'master-v2' }, 'v2');
      expect([await b.fingerprint('v1'), await b.fingerprint('v2')]).toEqual(first);
      expect(first[0]).not.toBe(first[1]);
    });

    it('opens by slot id as well as by token label', async () => {
      const slot = (await provider({ v1: 'master-v1' })).describe().slot;
      const bySlot = track(
        await Pkcs11KeyProvider.open({
          ...base(),
          token: { slot },
          current: 'v1',
          keys: { v1: 'master-v1' },
        }),
      );
      expect(bySlot.describe().token).toBe('main');
    });
  });

  describe('refusals, each with nothing lost', () => {
    it('a wrong PIN refuses at start with PIN_INCORRECT, and the PIN is never shown', async () => {
      await refusedWith(
        () =>
          Pkcs11KeyProvider.open({
            ...base(),
            pin: 'wrong-pin-13579',
            current: 'v1',
            keys: { v1: 'master-v1' },
          }),
        'PIN_INCORRECT',
      );
      const wrong = await hsm.pinFile('wrong-pin-13579', 'wrong-pin');
      await refusedWith(
        () => pkcs11KeyProviderFromEnv(env({ NOON_CONNECT_PKCS11_PIN_FILE: wrong })),
        'PIN_INCORRECT',
      );
      // The right PIN still works afterwards (the token did not lock).
      track((await pkcs11KeyProviderFromEnv(env()))!);
      // While that session is logged in the token answers "already logged in" without checking a PIN: a wrong
      // one is still refused.
      await refusedWith(
        () => pkcs11KeyProviderFromEnv(env({ NOON_CONNECT_PKCS11_PIN_FILE: wrong })),
        'PIN_INCORRECT',
      );
      track((await pkcs11KeyProviderFromEnv(env()))!);
    });

    it('a missing key label refuses at start with KEY_NOT_FOUND; no key record is written', async () => {
      const meta = new MemoryMeta();
      const vault = await Vault.open({ provider: await provider({ v1: 'master-v1' }), meta });
      const sealed = await vault.seal('kept secret', sellerA);
      const before = [...meta.writes];
      const err = await refusedWith(
        () => provider({ v1: 'master-v1', v2: 'no-such-label' }, 'v2'),
        'KEY_NOT_FOUND',
      );
      expect(err.message).toContain('"no-such-label"');
      expect(meta.writes).toEqual(before);
      expect((await vault.open(sealed, sellerA)).toString()).toBe('kept secret');
    });

    it('an extractable key, a key that may not decrypt, and a non-AES key are refused at start', async () => {
      const t = await raw();
      makeAesKey(t, 'extractable', { [CKA.EXTRACTABLE]: true, [CKA.SENSITIVE]: false });
      makeAesKey(t, 'encrypt-only', { [CKA.DECRYPT]: false });
      makeAesKey(t, 'aes-128', {}, 16);
      for (const label of ['extractable', 'encrypt-only', 'aes-128'])
        await refusedWith(() => provider({ v1: label }), 'KEY_UNSUITABLE');
    });

    it('a token that refuses an operation in use gives OPERATION_REFUSED; the value opens once it is allowed again', async () => {
      const t = await raw('refusing');
      const setDecrypt = (on: boolean) =>
        t.run('changing the key', (s) =>
          t.cryptoki.setAttributes(s, t.key(s, CKO_SECRET_KEY, 'modifiable'), [
            { type: CKA.DECRYPT, value: Buffer.from([on ? 1 : 0]) },
          ]),
        );
      makeAesKey(t, 'modifiable');
      const vault = await Vault.open({
        provider: await provider({ v1: 'modifiable' }, 'v1', 'refusing'),
        meta: new MemoryMeta(),
      });
      const sealed = await vault.seal('survives a refusal', sellerA);
      setDecrypt(false);
      await refusedWith(() => vault.open(sealed, sellerA), 'OPERATION_REFUSED');
      setDecrypt(true);
      expect((await vault.open(sealed, sellerA)).toString()).toBe('survives a refusal');
    });

    it('a removed token fails in use and at the next start; restored, every value opens again', async () => {
      await generatePkcs11MasterKey({ ...base(), token: { label: 'removable' }, label: 'm' });
      const meta = new MemoryMeta();
      const vault = await Vault.open({ provider: await provider({ v1: 'm' }, 'v1', 'removable'), meta });
      const sealed = await vault.seal('survives removal', sellerA);
      const dir = await hsm.tokenDir('removable');
      // Outside the token folder: SoftHSM2 would take a copy inside it for a second token.
      const backup = join(hsm.dir, 'removed-token-backup');
      await cp(dir, backup, { recursive: true });
      await rm(dir, { recursive: true });

      const inUse = await refusedWith(() => vault.open(sealed, sellerA), 'KEY_NOT_FOUND');
      expect(inUse.message).toMatch(/token was removed/);
      await refusedWith(() => vault.seal('not sealed', sellerA), 'KEY_NOT_FOUND');
      for (const p of opened.splice(0)) p.close();
      await refusedWith(() => provider({ v1: 'm' }, 'v1', 'removable'), 'TOKEN_NOT_FOUND');

      await cp(backup, dir, { recursive: true });
      const again = await Vault.open({ provider: await provider({ v1: 'm' }, 'v1', 'removable'), meta });
      expect((await again.open(sealed, sellerA)).toString()).toBe('survives removal');
    });

    it('a module that cannot initialise (SoftHSM2 config unset) refuses at start with MODULE_UNUSABLE', async () => {
      const saved = process.env.SOFTHSM2_CONF;
      process.env.SOFTHSM2_CONF = join(hsm.dir, 'missing.conf');
      try {
        await refusedWith(() => provider({ v1: 'master-v1' }), 'MODULE_UNUSABLE');
      } finally {
        process.env.SOFTHSM2_CONF = saved;
      }
      await refusedWith(
        () =>
          Pkcs11KeyProvider.open({
            ...base(),
            module: join(hsm.dir, 'no-module.so'),
            current: 'v1',
            keys: { v1: 'x' },
          }),
        'MODULE_UNUSABLE',
      );
      await refusedWith(() => provider({ v1: 'master-v1' }, 'v1', 'no-such-token'), 'TOKEN_NOT_FOUND');
      // And the token is fine for the next start.
      await provider({ v1: 'master-v1' });
    });

    it('a closed provider refuses with CLOSED', async () => {
      const p = await provider({ v1: 'master-v1' });
      p.close();
      await refusedWith(() => p.wrap(Buffer.alloc(32), Buffer.from('a'), 'v1'), 'CLOSED');
    });
  });

  describe('configuration by environment', () => {
    it('parses module, token, PIN file, key labels and the seller-key switch; nothing set means not configured', () => {
      expect(parsePkcs11Env({})).toBeUndefined();
      expect(parsePkcs11Env(env())).toEqual({
        module: hsm.module,
        token: { label: 'main' },
        pinFile,
        current: 'v1',
        keys: { v1: 'master-v1' },
        sellerKeys: false,
      });
      const json = JSON.stringify({ current: 'v2', keys: { v1: 'master-v1', v2: 'master-v2' } });
      expect(
        parsePkcs11Env({
          ...env({ NOON_CONNECT_PKCS11_KEY_LABEL: json, NOON_CONNECT_PKCS11_SELLER_KEYS: 'true' }),
          NOON_CONNECT_PKCS11_TOKEN_LABEL: '',
          NOON_CONNECT_PKCS11_SLOT: '7',
        }),
      ).toMatchObject({ token: { slot: 7 }, current: 'v2', sellerKeys: true });
    });

    it('lists every problem in one VAULT_CONFIG error', async () => {
      const cases: [Record<string, string>, RegExp][] = [
        [
          { NOON_CONNECT_PKCS11_PIN_FILE: '/x' },
          /NOON_CONNECT_PKCS11_MODULE is required.*TOKEN_LABEL or NOON_CONNECT_PKCS11_SLOT is required.*KEY_LABEL is required/,
        ],
        [env({ NOON_CONNECT_PKCS11_SLOT: '1' }), /only one of/],
        [
          { ...env(), NOON_CONNECT_PKCS11_TOKEN_LABEL: '', NOON_CONNECT_PKCS11_SLOT: 'one' },
          /must be a slot id/,
        ],
        [
          env({ NOON_CONNECT_PKCS11_KEY_LABEL: '{"current":"v3","keys":{"v1":"a"}}' }),
          /not one of the configured versions/,
        ],
        [
          env({ NOON_CONNECT_PKCS11_KEY_LABEL: '{"current":"v2","keys":{"v1":"a","v2":"a"}}' }),
          /"v1" and "v2" name the same key label/,
        ],
        [env({ NOON_CONNECT_PKCS11_KEY_LABEL: '{"current":"v1"' }), /not valid JSON/],
        [env({ NOON_CONNECT_PKCS11_SELLER_KEYS: 'maybe' }), /SELLER_KEYS must be true or false/],
      ];
      for (const [e, message] of cases)
        expect((await rejectsWith(() => parsePkcs11Env(e), 'VAULT_CONFIG')).message).toMatch(message);
      expect(
        parsePkcs11Env({ ...env(), NOON_CONNECT_PKCS11_KEY_LABEL: '' }, { keys: false })?.keys,
      ).toBeUndefined();
    });

    it('reads the PIN from its file without the trailing newline, and never names the path in an error', async () => {
      expect((await readPinFile(pinFile)).toString()).toBe(USER_PIN);
      const empty = join(hsm.dir, 'empty-pin');
      await writeFile(empty, '\n');
      await rejectsWith(() => readPinFile(empty), 'VAULT_CONFIG');
      // A PIN set where the path belongs must not be printed back.
      const err = await rejectsWith(() => readPinFile('975310'), 'VAULT_CONFIG');
      expect(err.message).not.toContain('975310');
    });

    it('a provider from the environment seals and opens; doctor lines describe it without secrets', async () => {
      const p = track((await pkcs11KeyProviderFromEnv(env()))!);
      const vault = await Vault.open({ provider: p, meta: new MemoryMeta() });
      expect((await vault.open(await vault.seal('via env', sellerA), sellerA)).toString()).toBe('via env');
      expect(await pkcs11KeyProviderFromEnv({})).toBeUndefined();

      const ok = await describePkcs11(env());
      expect(ok.map((c) => [c.check, c.ok])).toEqual([
        ['pkcs11 config', true],
        ['pkcs11 token', true],
      ]);
      expect(ok[1]!.detail).toContain('token "main"');
      const wrong = await hsm.pinFile('wrong-pin-13579', 'wrong-pin-2');
      const bad = await describePkcs11(env({ NOON_CONNECT_PKCS11_PIN_FILE: wrong }));
      expect(bad[1]).toMatchObject({ check: 'pkcs11 token', ok: false });
      expect(bad[1]!.hint).toMatch(/user PIN/);
      expect(await describePkcs11({})).toEqual([]);
      for (const c of [...ok, ...bad]) expect(JSON.stringify(c)).not.toMatch(/246810|13579/);
    });

    it('`vault keygen --pkcs11` creates the key in the token, and refuses a label in use', async () => {
      const saved = { ...process.env };
      Object.assign(process.env, env({ NOON_CONNECT_PKCS11_KEY_LABEL: 'cli-made' }));
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(`ERR ${l}`) };
      try {
        expect(await vaultCommand(['keygen', '--pkcs11'], io)).toBe(0);
        expect(lines.at(-1)).toMatch(/created AES-256 key "cli-made".*fingerprint pkcs11-gcm:/);
        expect(await vaultCommand(['keygen', '--pkcs11'], io)).toBe(1);
        expect(lines.at(-1)).toMatch(/^ERR .*already exists/);
        expect(await vaultCommand(['keygen', '--pkcs11', '--label', 'cli-made-2'], io)).toBe(0);
        expect(await vaultCommand(['keygen', '--label', 'x'], io)).toBe(2);
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
      await provider({ v1: 'cli-made', v2: 'cli-made-2' }, 'v2');
    });
  });

  it('the key record written for a token key names only fingerprints', async () => {
    const meta = new MemoryMeta();
    await Vault.open({ provider: await provider({ v1: 'master-v1' }), meta });
    const record = JSON.parse(meta.values.get(KEYRING_META_NAME)!);
    expect(record.active.v1).toMatch(/^pkcs11-gcm:/);
  });

  it('the same provider opened with the token key of a version gives a provider that openPkcs11KeyProvider accepts', async () => {
    const config = parsePkcs11Env(env())!;
    const p = track(await openPkcs11KeyProvider(config));
    expect(p.versions()).toEqual(['v1']);
  });
});
