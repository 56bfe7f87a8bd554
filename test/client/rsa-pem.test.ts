import { createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importRsaPrivateKey } from '../../src/client/credentials.js';
import { NoonError } from '../../src/client/errors.js';
import { importRsaPemFast } from '../../src/client/rsa-pem.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pkcs1 = privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const data = Buffer.from('header.payload');
const fail = (field: string, problem: string) => new NoonError('CREDENTIALS_INVALID', `${field} ${problem}`);

/** The same key: RS256 (PKCS#1 v1.5) is deterministic, so equal signatures mean equal private keys. */
function sameKey(a: KeyObject, b: KeyObject): void {
  expect(sign('sha256', data, a).equals(sign('sha256', data, b))).toBe(true);
  expect(a.asymmetricKeyDetails).toEqual(b.asymmetricKeyDetails);
}

/** The PEM text of `der` under `label`, 64 characters a line. */
function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64.replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

describe('RSA PEM fast path (the same key as OpenSSL reads, without its decoder chain)', () => {
  it('reads PKCS#1 and PKCS#8 into the key OpenSSL reads', () => {
    for (const text of [pkcs1, pkcs8, pkcs8.replace(/\n/g, '\r\n'), `${pkcs1}\n\n`]) {
      const fast = importRsaPemFast(text);
      expect(fast).toBeDefined();
      sameKey(fast!, createPrivateKey(text));
    }
  });

  it('leaves every other shape to OpenSSL: encrypted, EC, public, odd DER, text around the block', () => {
    const der1 = privateKey.export({ format: 'der', type: 'pkcs1' });
    const der8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const encrypted = privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'x'.repeat(12),
    }) as string;
    const trailing = Buffer.concat([der1, Buffer.from([0])]);
    const truncated = der8.subarray(0, der8.length - 1);
    // The outer length in long form with a leading zero byte: not minimal DER.
    const nonMinimal = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), der1.subarray(2)]);
    const odd = [
      encrypted,
      ec.export({ format: 'pem', type: 'pkcs8' }) as string,
      privateKey.export({ format: 'pem', type: 'pkcs1' }).toString().replace('RSA PRIVATE', 'RSA PUBLIC'),
      pem('RSA PRIVATE KEY', trailing),
      pem('PRIVATE KEY', truncated),
      pem('RSA PRIVATE KEY', nonMinimal),
      pem('RSA PRIVATE KEY', der8),
      pem('PRIVATE KEY', der1),
      `comment\n${pkcs1}`,
      pkcs1.replace(/A/, '*'),
      '',
    ];
    for (const text of odd) expect(importRsaPemFast(text)).toBeUndefined();
  });

  it('importRsaPrivateKey judges a key the fast path leaves exactly as before', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => importRsaPrivateKey(ec.export({ format: 'pem', type: 'pkcs8' }) as string, fail)).toThrow(
      'private_key is not an RSA key',
    );
    expect(() =>
      importRsaPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', fail),
    ).toThrow('private_key is not a readable PEM private key');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    // A 1024-bit key takes the fast path and is still refused for its size.
    expect(importRsaPemFast(small.export({ format: 'pem', type: 'pkcs1' }) as string)).toBeDefined();
    expect(() => importRsaPrivateKey(small.export({ format: 'pem', type: 'pkcs1' }) as string, fail)).toThrow(
      'is shorter than 2048 bits',
    );
    sameKey(importRsaPrivateKey(pkcs8, fail), privateKey);
  });
});
