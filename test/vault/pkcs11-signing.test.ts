// Seller signing keys inside the token (the opt-in of keeping sellers' keys out of process memory): import as a
// non-extractable RSA object, RS256 signatures made by the token, idempotent re-import, and destroy.

import { generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { compactVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generatePkcs11MasterKey, Pkcs11KeyProvider, type SigningKeyStore } from '../../src/vault/index.js';
import { CKA, CKO_PRIVATE_KEY } from '../../src/vault/pkcs11/constants.js';
import { Pkcs11Token } from '../../src/vault/pkcs11/token.js';
import { pkcs11SkipReason, readAttributes, SoftHsm, USER_PIN } from '../helpers/softhsm.js';
import { errorText, rejectsWith } from './helpers.js';

const skip = pkcs11SkipReason();

function rsa(): { privateKey: KeyObject; pkcs8: string; pkcs1: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    pkcs8: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    pkcs1: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
  };
}

describe.skipIf(skip)('seller signing keys in a PKCS#11 token (SoftHSM2)', () => {
  let hsm: SoftHsm;
  const opened: { close(): void }[] = [];
  const base = () => ({ module: hsm.module, token: { label: 'signing' }, pin: USER_PIN });
  const keys = async (): Promise<SigningKeyStore> => {
    const p = await Pkcs11KeyProvider.open({ ...base(), current: 'v1', keys: { v1: 'master' } });
    opened.push(p);
    return p.signingKeys();
  };

  beforeAll(async () => {
    hsm = await SoftHsm.create();
    hsm.initToken('signing');
    await generatePkcs11MasterKey({ ...base(), label: 'master' });
  });

  afterEach(() => {
    for (const p of opened.splice(0).reverse()) p.close();
  });

  afterAll(async () => {
    await hsm?.dispose();
  });

  it('an imported key signs RS256 inside the token: the same signature node:crypto makes, verified by jose', async () => {
    const store = await keys();
    const k = rsa();
    const publicKey = await store.importKey('seller-key-1', k.pkcs8);
    const input = Buffer.from('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrZXktMSJ9');
    const signature = await store.sign('seller-key-1', input);
    expect(signature.equals(sign('sha256', input, k.privateKey))).toBe(true);
    expect(verify('sha256', input, publicKey, signature)).toBe(true);
    const jws = `${input.toString()}.${signature.toString('base64url')}`;
    const { protectedHeader } = await compactVerify(jws, publicKey);
    expect(protectedHeader.alg).toBe('RS256');
    // PKCS#1 PEM (Noon's own example format) and a KeyObject import too.
    const k1 = rsa();
    await store.importKey('seller-key-pkcs1', k1.pkcs1);
    expect(verify('sha256', input, k1.privateKey, await store.sign('seller-key-pkcs1', input))).toBe(true);
    const k2 = rsa();
    await store.importKey('seller-key-object', k2.privateKey);
    expect(verify('sha256', input, k2.privateKey, await store.sign('seller-key-object', input))).toBe(true);
  });

  it('the key object is sensitive and not extractable: the token refuses to give out its private parts', async () => {
    const store = await keys();
    await store.importKey('seller-key-2', rsa().pkcs8);
    const t = await Pkcs11Token.open(base());
    opened.push(t);
    const attrs = [
      { type: CKA.PRIVATE_EXPONENT, value: Buffer.alloc(256) },
      { type: CKA.PRIME_1, value: Buffer.alloc(128) },
      { type: CKA.SENSITIVE, value: Buffer.alloc(1) },
      { type: CKA.EXTRACTABLE, value: Buffer.alloc(1) },
      { type: CKA.SIGN, value: Buffer.alloc(1) },
      { type: CKA.DECRYPT, value: Buffer.alloc(1) },
    ];
    const lengths = readAttributes(t, CKO_PRIVATE_KEY, 'seller-key-2', attrs);
    expect(lengths.slice(0, 2)).toEqual([-1, -1]);
    expect(attrs[0]!.value.equals(Buffer.alloc(256))).toBe(true);
    expect(attrs.slice(2).map((a) => a.value[0])).toEqual([1, 0, 1, 0]);
  });

  it('importing the same key again is a no-op; another key under the label is refused and changes nothing', async () => {
    const store = await keys();
    const k = rsa();
    await store.importKey('seller-key-3', k.pkcs8);
    await store.importKey('seller-key-3', k.pkcs8);
    const other = rsa();
    const err = await rejectsWith(() => store.importKey('seller-key-3', other.pkcs8), 'VAULT_HSM');
    expect(err).toMatchObject({ reason: 'KEY_EXISTS' });
    expect(errorText(err)).not.toContain(other.pkcs8.split('\n')[1]!);
    const input = Buffer.from('probe');
    expect(verify('sha256', input, k.privateKey, await store.sign('seller-key-3', input))).toBe(true);
  });

  it('keys outlive the session; destroy removes them, and signing afterwards fails with KEY_NOT_FOUND', async () => {
    const k = rsa();
    await (await keys()).importKey('seller-key-4', k.pkcs8);
    for (const p of opened.splice(0)) p.close();
    const store = await keys();
    expect(await store.has('seller-key-4')).toBe(true);
    expect(
      verify('sha256', Buffer.from('x'), k.privateKey, await store.sign('seller-key-4', Buffer.from('x'))),
    ).toBe(true);
    expect(await store.destroy('seller-key-4')).toBe(true);
    expect(await store.has('seller-key-4')).toBe(false);
    expect(await store.destroy('seller-key-4')).toBe(false);
    const err = await rejectsWith(() => store.sign('seller-key-4', Buffer.from('x')), 'VAULT_HSM');
    expect(err).toMatchObject({ reason: 'KEY_NOT_FOUND' });
  });

  it('refuses a non-RSA key, unreadable PEM and bad labels as usage errors that quote nothing', async () => {
    const store = await keys();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const usage = async (fn: () => Promise<unknown>) => {
      const err = await fn().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TypeError);
      expect((err as { code?: string }).code).toBe('ERR_VAULT_INVALID_ARGUMENT');
      return err as Error;
    };
    await usage(() => store.importKey('ec', ec));
    const garbled = (await usage(() => store.importKey('bad', 'not a key material 8c1f'))).message;
    expect(garbled).not.toContain('8c1f');
    await usage(() => store.importKey('', rsa().pkcs8));
    await usage(() => store.sign('x'.repeat(128), Buffer.from('x')));
  });
});
