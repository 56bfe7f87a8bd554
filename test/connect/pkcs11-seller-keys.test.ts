// Sellers' keys in a PKCS#11 token (SoftHSM2), with connectors in child processes (the crash bench): after the
// import no sealed copy of the key remains (every sealed value in the store decrypted and searched, the SQLite
// main and WAL files searched, the logs searched), the connector's heap after GC holds no live string with the
// key (checked with a heap snapshot, which does show it while the raw answer is still in hand), the seller logs
// in with signatures made in the token, rotation and disconnect create and destroy the token objects, and a token
// that refuses the import leaves the attempt KEY_STORED, finished once the token takes the key.

import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealContextOf } from '../../src/connect/rewrap.js';
import { sellerKeyLabel } from '../../src/connect/seller-keys.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import type { Attempt, SealedValue } from '../../src/store/index.js';
import { generatePkcs11MasterKey, PKCS11_ENV } from '../../src/vault/index.js';
import { CrashBench, useCrashSandbox } from '../helpers/crash-harness.js';
import { testKeyProvider, withTestVault } from '../helpers/pkcs11-switch.js';
import { pkcs11SkipReason, SoftHsm, USER_PIN } from '../helpers/softhsm.js';
import { tempDir } from '../helpers/stores.js';

const skip = pkcs11SkipReason();
const TEST_MS = 120_000;
/** Past the bench's reconcile thresholds (at most 60 s). */
const PAST_THRESHOLDS_MS = 2 * 60_000;

let sb: Sandbox;
let hsm: SoftHsm;
useCrashSandbox((s) => {
  sb = s;
});

/** The environment the children inherit: the master key and the sellers' keys in this file's own token. */
const saved: Record<string, string | undefined> = {};
function useTokenEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
}

/** The private key in an attempt's stored raw answer (the test reads it, as an operator with the token could). */
async function keyInAnswer(bench: CrashBench, a: Attempt): Promise<{ pem: string; keyId: string }> {
  const plain = await withTestVault(bench.store, '', (vault) =>
    vault.open(a.rawExchangeSealed!, sealContextOf(sealedOf(a))),
  );
  // The exchange answer carries the key file under `result`.
  const body = JSON.parse(plain.toString('utf8')) as { result: { key_id: string; private_key: string } };
  expect(typeof body.result.private_key).toBe('string');
  return { pem: body.result.private_key, keyId: body.result.key_id };
}

function sealedOf(a: Attempt): SealedValue {
  return {
    column: 'attempt.raw_exchange',
    id: a.id,
    key: `attempt.raw_exchange|${a.id}`,
    sealed: a.rawExchangeSealed!,
    tenant: a.tenant,
    sellerProject: a.sellerProject,
  };
}

/** What identifies the key in memory or at rest: its PEM body lines, and the start of its private exponent. */
function material(pem: string): string[] {
  const lines = pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-'));
  const d = (createPrivateKey(pem).export({ format: 'jwk' }) as { d: string }).d;
  return [...lines, d.slice(0, 64)];
}

/** Every sealed value the store lists. */
async function sealedValues(bench: CrashBench): Promise<SealedValue[]> {
  const values: SealedValue[] = [];
  for (let after: string | undefined; ; ) {
    const page = await bench.store.listSealedValues({ limit: 100, ...(after ? { after } : {}) });
    values.push(...page);
    if (page.length < 100) return values;
    after = page[page.length - 1]!.key;
  }
}

/** Every sealed value the store holds, decrypted with the context it was sealed under. */
async function plaintexts(bench: CrashBench): Promise<{ where: string; text: string }[]> {
  const values = await sealedValues(bench);
  return withTestVault(bench.store, '', async (vault) => {
    const out: { where: string; text: string }[] = [];
    for (const v of values)
      out.push({ where: v.key, text: (await vault.open(v.sealed, sealContextOf(v))).toString('utf8') });
    return out;
  });
}

/** Every string in a heap snapshot of the child, joined. */
async function heapStrings(child: Awaited<ReturnType<CrashBench['spawn']>>): Promise<string> {
  const path = join(tempDir('nc-heap-'), 'child.heapsnapshot');
  await child.heapSnapshot(path);
  try {
    const snapshot = JSON.parse(readFileSync(path, 'utf8')) as { strings: string[] };
    return snapshot.strings.join('\n');
  } finally {
    rmSync(path, { force: true });
  }
}

/**
 * A connect whose connector (keeping seller keys in the token) is held at KEY_STORED: the raw answer is
 * committed, nothing imported yet. Returns the key the answer holds and its token label.
 */
async function heldAtKeyStored() {
  const bench = await CrashBench.open({ store: 'sqlite', sandbox: sb });
  const held = await bench.spawn({ sellerKeys: true, crash: { step: 'KEY_STORED', mode: 'hang' } });
  const { project } = bench.newSeller();
  const run = await bench.begin(held, { tenant: 'tenant-1', project });
  const torn = bench.visit(run.browser, run.url, 'callback, held at KEY_STORED');
  const attemptId = await held.waitStep('KEY_STORED');
  const stored = (await bench.store.getAttempt(attemptId))!;
  const { pem, keyId } = await keyInAnswer(bench, stored);
  return { bench, held, project, run, torn, attemptId, stored, pem, keyId, label: sellerKeyLabel(keyId) };
}

async function tokenHas(label: string): Promise<boolean> {
  const keys = await testKeyProvider('');
  try {
    return await keys.signingKeys!.has(label);
  } finally {
    keys.close();
  }
}

describe.skipIf(skip)("sellers' keys in a PKCS#11 token (SoftHSM2)", () => {
  beforeAll(async () => {
    hsm = await SoftHsm.create();
    hsm.initToken('sellers');
    const pinFile = await hsm.pinFile();
    await generatePkcs11MasterKey({
      module: hsm.module,
      token: { label: 'sellers' },
      pin: USER_PIN,
      label: 'sellers-master-v1',
    });
    useTokenEnv({
      NOON_CONNECT_TEST_PKCS11: '1',
      [PKCS11_ENV.module]: hsm.module,
      [PKCS11_ENV.tokenLabel]: 'sellers',
      [PKCS11_ENV.pinFile]: pinFile,
      [PKCS11_ENV.keyLabel]: 'sellers-master-v1',
    });
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await hsm?.dispose();
  });

  it(
    'after the import no copy of the key is left in the store, its files, the logs or the live heap; the seller logs in, rotates and disconnects through the token',
    async () => {
      const { bench, held, project, torn, attemptId, stored, pem, keyId, label } = await heldAtKeyStored();
      const secret = material(pem);

      // Controls: while the answer is in hand the checks below do see it, on disk and in the heap.
      expect((await bench.dataAtRest()).some(({ text }) => text.includes(stored.rawExchangeSealed!))).toBe(
        true,
      );
      const heldHeap = await heapStrings(held);
      expect(secret.filter((m) => heldHeap.includes(m)).length).toBeGreaterThan(0);
      expect(await tokenHas(label)).toBe(false);

      // A fresh connector finishes it: the key goes into the token, the attempt connects.
      await held.kill9();
      expect(await torn).toBeNull();
      sb.clock.advance(PAST_THRESHOLDS_MS);
      const child = await bench.spawn({ sellerKeys: true });
      const [report] = await child.reconcile();
      expect(report?.connected).toBe(1);
      const attempt = (await bench.store.getAttempt(attemptId))!;
      expect(attempt.status).toBe('CONNECTED');
      expect(attempt.rawExchangeSealed).toBeNull();
      expect(await tokenHas(label)).toBe(true);

      // No sealed copy: every sealed value, decrypted, lacks the key; the stored key file has no private key.
      const opened = await plaintexts(bench);
      const [cred] = await bench.credentialsFor(project);
      const keyFile = opened.find((p) => p.where === `credential.sealed|${cred!.id}`);
      expect(JSON.parse(keyFile!.text)).toMatchObject({ key_id: keyId, project_code: project });
      expect(JSON.parse(keyFile!.text)).not.toHaveProperty('private_key');
      for (const { where, text } of opened) {
        expect(text.includes('private_key'), where).toBe(false);
        for (const m of secret) expect(text.includes(m), where).toBe(false);
      }
      // At rest: the SQLite main, WAL and shm files hold neither the key nor the sealed answer, and every sealed
      // value in them is one the store still lists (nothing left over in freed pages or old WAL frames).
      const listed = new Set((await sealedValues(bench)).map((v) => v.sealed));
      for (const { where, text } of await bench.dataAtRest()) {
        expect(text.includes(stored.rawExchangeSealed!), where).toBe(false);
        for (const m of secret) expect(text.includes(m), where).toBe(false);
        // A match may run on into the next column's bytes: it must start with (or be the start of) a listed value.
        for (const token of text.match(/ncv1\.[A-Za-z0-9_.-]{40,}/g) ?? [])
          expect(
            [...listed].some((l) => token.startsWith(l) || l.startsWith(token)),
            `${where}: a sealed value the store no longer lists`,
          ).toBe(true);
      }

      // The live heap of the connector that imported the key: no string holds it after GC.
      const heap = await heapStrings(child);
      expect(heap.length).toBeGreaterThan(100_000);
      expect(secret.filter((m) => heap.includes(m))).toEqual([]);

      // The seller logs in with a JWT signed in the token, and the sandbox verified it.
      const who = await child.seller('tenant-1', project);
      expect(who.status).toBe(200);
      expect(who.body).toMatchObject({ keyId, projectCode: project });
      expect((await bench.whoami(cred!)).keyId).toBe(keyId);

      // Rotation: a new key in the token, the old one destroyed there once removed upstream.
      const rotated = await child.rotate(cred!.connectionId);
      expect(rotated.status).toBe(200);
      const [next] = await bench.credentialsFor(project, ['active']);
      expect(next!.keyId).not.toBe(keyId);
      expect(await tokenHas(sellerKeyLabel(next!.keyId))).toBe(true);
      expect(await tokenHas(label)).toBe(false);
      expect((await child.seller('tenant-1', project)).body).toMatchObject({ keyId: next!.keyId });

      // Disconnect: removed upstream, then from the token.
      const gone = await child.disconnect(cred!.connectionId);
      expect(gone.status).toBe(200);
      expect(await tokenHas(sellerKeyLabel(next!.keyId))).toBe(false);
      expect(bench.activeLedger(project)).toEqual([]);
      await bench.checkAtRest(project);
    },
    TEST_MS,
  );

  it(
    'a token that refuses the import leaves the attempt KEY_STORED with its sealed answer; once the token takes the key it connects',
    async () => {
      const { bench, held, project, run, torn, attemptId, stored, keyId, label } = await heldAtKeyStored();

      // Another key already sits under the seller key's label: the token refuses to take this one (KEY_EXISTS).
      const squatter = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const keys = await testKeyProvider('');
      try {
        await keys.signingKeys!.importKey(label, squatter);
      } finally {
        keys.close();
      }
      await held.kill9();
      expect(await torn).toBeNull();
      const child = await bench.spawn({ sellerKeys: true });

      // The seller refreshes the callback: "finishing", never an error; the attempt keeps its answer.
      const refresh = await bench.visit(run.browser, run.url, 'refresh, token refuses');
      expect(refresh?.status).toBe(202);
      expect(refresh?.text).toContain('Finishing the connection');
      sb.clock.advance(PAST_THRESHOLDS_MS);
      const [report] = await child.reconcile();
      expect(report?.connected).toBe(0);
      const waiting = (await bench.store.getAttempt(attemptId))!;
      expect(waiting.status).toBe('KEY_STORED');
      expect(waiting.rawExchangeSealed).toBe(stored.rawExchangeSealed);
      expect(bench.logs).toContainEqual(
        expect.objectContaining({
          msg: 'seller key not in the signing-key store yet; the attempt stays KEY_STORED and is retried',
          attemptId,
          code: 'VAULT_HSM',
        }),
      );

      // The operator clears the label; the next pass connects, and the seller logs in through the token.
      const admin = await testKeyProvider('');
      try {
        expect(await admin.signingKeys!.destroy(label)).toBe(true);
      } finally {
        admin.close();
      }
      const [again] = await child.reconcile();
      expect(again?.connected).toBe(1);
      expect((await bench.store.getAttempt(attemptId))?.status).toBe('CONNECTED');
      expect(await tokenHas(label)).toBe(true);
      expect((await child.seller('tenant-1', project)).body).toMatchObject({ keyId, projectCode: project });
      await bench.checkAtRest(project);
    },
    TEST_MS,
  );
  it(
    'a key the check refuses after its import goes to an operator with its sealed answer, and leaves no object in the token',
    async () => {
      const bench = await CrashBench.open({ store: 'sqlite', sandbox: sb });
      const child = await bench.spawn({ sellerKeys: true });
      const { project } = bench.newSeller();
      const run = await bench.begin(child, { tenant: 'tenant-1', project });
      // The key check's whoami is refused once: the key was imported moments before.
      sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 403 }, times: 1 });
      const page = await bench.visit(run.browser, run.url, 'callback, key check refused');
      expect(page?.status).not.toBe(303);
      const [attempt] = await bench.attemptsFor(project);
      expect(attempt!.status).toBe('NEEDS_ATTENTION');
      expect(attempt!.errorCode).toBe('LOGIN_FAILED');
      // The one copy kept is the sealed answer, for the operator; the token holds nothing of it.
      const { keyId } = await keyInAnswer(bench, attempt!);
      expect(await tokenHas(sellerKeyLabel(keyId))).toBe(false);
      expect(await bench.credentialsFor(project)).toEqual([]);
    },
    TEST_MS,
  );
});
