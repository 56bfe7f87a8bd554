// PKCS#11 benchmark on a real token (SoftHSM2 in a temporary folder), side by side with the in-process
// equivalents, in alternating time-boxed chunks so drift on a shared machine hits both alike:
//  - data-key wrap/s and unwrap/s: LocalKeyProvider vs Pkcs11KeyProvider;
//  - a whole vault seal + open of a 1 KiB secret per second, over each provider;
//  - login-JWT RS256 signs/s: node:crypto with the KeyObject imported once (what the client does) vs the token.

import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import {
  generatePkcs11MasterKey,
  type KeyProvider,
  keygen,
  LocalKeyProvider,
  Pkcs11KeyProvider,
  type SealContext,
  Vault,
  type VaultMeta,
} from '../src/vault/index.js';
import { SoftHsm, softhsmMissing, USER_PIN } from '../test/helpers/softhsm.js';
import { record } from './_report.js';

/** Each side runs this long per chunk, and the pair of sides this long in all, per row. */
const CHUNK_MS = 200;
const ROW_MS = 3_000;

type Op = () => Promise<unknown> | unknown;

/** Operations per second of `a` and `b`, measured in alternating chunks. */
async function sideBySide(a: Op, b: Op): Promise<[number, number]> {
  const done = [0, 0];
  const spent = [0, 0];
  const sides = [a, b];
  const t0 = performance.now();
  while (performance.now() - t0 < ROW_MS) {
    for (let i = 0; i < 2; i++) {
      const start = performance.now();
      let now = start;
      while (now - start < CHUNK_MS) {
        await sides[i]!();
        done[i]!++;
        now = performance.now();
      }
      spent[i]! += now - start;
    }
  }
  return [(done[0]! / spent[0]!) * 1000, (done[1]! / spent[1]!) * 1000];
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);

function memoryMeta(): VaultMeta {
  const m = new Map<string, string>();
  return { get: async (n) => m.get(n), set: async (n, v) => void m.set(n, v) };
}

function jwtInput(): Buffer {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  return Buffer.from(
    `${b64({ alg: 'RS256', typ: 'JWT', kid: 'key-1' })}.${b64({ sub: 'key-1', iat, exp: iat + 300, jti: crypto.randomUUID() })}`,
  );
}

export async function run(): Promise<void> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const missing = softhsmMissing();
  if (missing) {
    out(`skipped: ${missing}`);
    record({ bench: 'hsm', measure: 'skipped', value: Number.NaN, unit: '', note: missing });
    return;
  }
  const hsm = await SoftHsm.create();
  let token: Pkcs11KeyProvider | undefined;
  try {
    hsm.initToken('bench');
    const base = { module: hsm.module, token: { label: 'bench' }, pin: USER_PIN };
    await generatePkcs11MasterKey({ ...base, label: 'bench-master' });
    token = await Pkcs11KeyProvider.open({ ...base, current: 'v1', keys: { v1: 'bench-master' } });
    const local: KeyProvider = new LocalKeyProvider({ current: 'v1', keys: { v1: keygen() } });

    const dek = Buffer.alloc(32, 7);
    const aad = Buffer.alloc(80, 1);
    const wrappedLocal = await local.wrap(dek, aad, 'v1');
    const wrappedToken = await token.wrap(dek, aad, 'v1');
    const context: SealContext = {
      tenant: 't',
      project: 'PRJ1',
      credentialId: 'c1',
      purpose: 'seller-private-key',
    };
    const secret = Buffer.alloc(1024, 0x61);
    const vaultLocal = await Vault.open({ provider: local, meta: memoryMeta() });
    const vaultToken = await Vault.open({ provider: token, meta: memoryMeta() });

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const signing = token.signingKeys();
    await signing.importKey('bench-seller', privateKey);
    const p = token;

    const softhsm = spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).stdout.trim();
    const koffi = ((await import('koffi' as string)) as { default: { version: string } }).default.version;
    out(`SoftHSM2 ${softhsm} (token in a temporary folder), koffi ${koffi}, Node ${process.version}`);
    out(`alternating ${CHUNK_MS} ms chunks, ${ROW_MS / 1000} s per row; one operation at a time`);
    out(`${''.padEnd(34)}${'in process'.padStart(10)}  ${'in token'.padStart(10)}   token/process`);
    const row = async (name: string, a: Op, b: Op) => {
      const [x, y] = await sideBySide(a, b);
      out(`${name.padEnd(34)}${fmt(x)}  ${fmt(y)}   ${(y / x).toFixed(3)}×`);
      record({
        bench: 'hsm',
        measure: `${name}, in the token (SoftHSM2)`,
        value: y,
        unit: 'ops/s',
        baseline: { label: 'the same operation in process', value: x },
        ratio: y / x,
        note: `alternating ${CHUNK_MS} ms chunks, one operation at a time`,
      });
    };
    await row(
      'data-key wrap/s',
      () => local.wrap(dek, aad, 'v1'),
      () => p.wrap(dek, aad, 'v1'),
    );
    await row(
      'data-key unwrap/s',
      () => local.unwrap(wrappedLocal, aad, 'v1'),
      () => p.unwrap(wrappedToken, aad, 'v1'),
    );
    await row(
      'vault seal + open of 1 KiB/s',
      async () => vaultLocal.open(await vaultLocal.seal(secret, context), context),
      async () => vaultToken.open(await vaultToken.seal(secret, context), context),
    );
    await row(
      'login JWT RS256 signs/s (RSA-2048)',
      () => sign('sha256', jwtInput(), privateKey),
      () => signing.sign('bench-seller', jwtInput()),
    );
  } finally {
    token?.close();
    await hsm.dispose();
  }
}
