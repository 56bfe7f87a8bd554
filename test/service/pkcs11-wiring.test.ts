// The service and the CLI with the master key in a PKCS#11 token (SoftHSM2): the NOON_CONNECT_PKCS11_ variables
// are a master key of their own (with a key as well, or incomplete, each is a refusal naming variables, never
// values), the service starts on the token and seals with it, a wrong PIN stops start-up before the store is
// touched, and `doctor` lists the token's checks and checks the master key through the token.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createService, parseConfig, StartupError } from '../../src/service/index.js';
import { openStore } from '../../src/store/index.js';
import { generatePkcs11MasterKey, KEYRING_META_NAME } from '../../src/vault/index.js';
import { runCli } from '../helpers/cli.js';
import { randomToken, startServiceStack } from '../helpers/harness.js';
import { connectThrough } from '../helpers/seller-flow.js';
import { childEnv } from '../helpers/service-ops.js';
import { pkcs11SkipReason, SoftHsm, USER_PIN } from '../helpers/softhsm.js';
import { tempDir } from '../helpers/stores.js';

const skip = pkcs11SkipReason();

describe.skipIf(skip)('service and CLI with the master key in a PKCS#11 token (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let pinFile: string;
  const token = (over: Record<string, string | undefined> = {}) => ({
    NOON_CONNECT_PKCS11_MODULE: hsm.module,
    NOON_CONNECT_PKCS11_TOKEN_LABEL: 'service',
    NOON_CONNECT_PKCS11_PIN_FILE: pinFile,
    NOON_CONNECT_PKCS11_KEY_LABEL: 'service-master-v1',
    ...over,
  });
  /** A configuration that passes apart from the master key's source. */
  const base = (over: Record<string, string | undefined> = {}) => ({
    NOON_CONNECT_MODE: 'production',
    NOON_CONNECT_PORT: '0',
    NOON_CONNECT_PUBLIC_URL: 'https://connect.example.com',
    NOON_CLIENT_ID: 'acme-connect',
    NOON_CLIENT_SECRET: 'not-a-real-secret-but-long-enough',
    NOON_KEY_FILE: '/nonexistent/integrator-key.json',
    NOON_CONNECT_STORE: `sqlite:${join(tempDir('nc-pkcs11-svc-'), 'connect.db')}`,
    NOON_CONNECT_ADMIN_TOKEN: randomToken('admin'),
    NOON_CONNECT_API_TOKEN: randomToken('api'),
    ...over,
  });
  const problemsOf = (env: Record<string, string | undefined>): string[] => {
    try {
      parseConfig(env);
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.problems;
    }
  };
  /** The environment of the service that connected a seller (its store is kept for doctor). */
  let servedEnv: Record<string, string | undefined> | undefined;

  beforeAll(async () => {
    hsm = await SoftHsm.create();
    hsm.initToken('service');
    pinFile = await hsm.pinFile();
    await generatePkcs11MasterKey({
      module: hsm.module,
      token: { label: 'service' },
      pin: USER_PIN,
      label: 'service-master-v1',
    });
  });

  afterAll(async () => {
    await hsm?.dispose();
  });

  it('the token alone is the master key; with a key as well, or incomplete, each is a refusal naming variables, never values', () => {
    const config = parseConfig(base(token()));
    expect(config.pkcs11?.keys).toEqual({ v1: 'service-master-v1' });
    expect(config.pkcs11?.token).toEqual({ label: 'service' });
    expect(config.masterKey).toBeUndefined();

    expect(problemsOf(base({ ...token(), NOON_CONNECT_MASTER_KEY: 'A'.repeat(44) }))).toEqual([
      'set either the NOON_CONNECT_PKCS11_ variables or NOON_CONNECT_MASTER_KEY / NOON_CONNECT_MASTER_KEY_FILE, not both',
    ]);
    const incomplete = problemsOf(
      base({ NOON_CONNECT_PKCS11_MODULE: hsm.module, NOON_CONNECT_PKCS11_SELLER_KEYS: 'maybe' }),
    );
    expect(incomplete).toEqual([
      'NOON_CONNECT_PKCS11_TOKEN_LABEL or NOON_CONNECT_PKCS11_SLOT is required',
      'NOON_CONNECT_PKCS11_PIN_FILE is required (a file holding the user PIN)',
      'NOON_CONNECT_PKCS11_KEY_LABEL is required',
      'NOON_CONNECT_PKCS11_SELLER_KEYS must be true or false',
    ]);
    const bad = problemsOf(
      base(token({ NOON_CONNECT_PKCS11_KEY_LABEL: '{"current":"v2","keys":{"v1":"a-secret-label"}}' })),
    );
    expect(bad).toEqual([
      'NOON_CONNECT_PKCS11_KEY_LABEL: the current vault key version is not one of the configured versions',
    ]);
    for (const p of [...incomplete, ...bad]) {
      expect(p).not.toContain(hsm.module);
      expect(p).not.toContain('a-secret-label');
    }
  });

  it('the service starts on the token, seals with it and connects a seller; a wrong PIN stops start-up before the store is touched', async () => {
    const stack = await startServiceStack({ env: { NOON_CONNECT_MASTER_KEY: undefined, ...token() } });
    try {
      const trip = await connectThrough(stack, {
        startUrl: stack.service.context.links.create({ tenant: 'tenant-token' }).url,
        tenant: 'tenant-token',
      });
      expect(trip.callback.status).toBe(303);
      expect(trip.done?.text).toMatch(/connected/i);
      // Only the PKCS#11 provider makes this fingerprint.
      expect(await stack.service.context.store.getMeta(KEYRING_META_NAME)).toMatch(/"pkcs11-gcm:/);
      servedEnv = stack.env;
    } finally {
      await stack.close();
    }

    const wrongPin = await hsm.pinFile('999999', 'wrong-pin');
    const store = join(tempDir('nc-pkcs11-pin-'), 'connect.db');
    const refused = await createService(
      parseConfig(
        base(token({ NOON_CONNECT_PKCS11_PIN_FILE: wrongPin, NOON_CONNECT_STORE: `sqlite:${store}` })),
      ),
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StartupError);
    expect((refused as StartupError).code).toBe('MASTER_KEY');
    expect((refused as Error).message).toMatch(
      /^master key: PKCS#11: .*refused the PIN \(CKR_PIN_INCORRECT\)$/,
    );
    expect((refused as Error).message).not.toContain('999999');
    expect(existsSync(store)).toBe(false);
  });

  it("doctor lists the token checks and opens the store's data through the token; a missing key label fails with its hint", async () => {
    expect(servedEnv).toBeDefined();
    const doctor = async (over: Record<string, string | undefined> = {}) => {
      const run = runCli(['doctor', '--json', '--timeout', '2000'], childEnv({ ...servedEnv!, ...over }));
      await run.exit;
      return JSON.parse(run.stdout()) as { check: string; ok: boolean; detail: string; hint?: string }[];
    };
    const byName = (checks: Awaited<ReturnType<typeof doctor>>, name: string) =>
      checks.find((c) => c.check === name);

    const good = await doctor();
    expect(byName(good, 'pkcs11 config')).toMatchObject({ ok: true });
    expect(byName(good, 'pkcs11 config')?.detail).toContain('v1="service-master-v1"');
    expect(byName(good, 'pkcs11 token')).toMatchObject({ ok: true });
    expect(byName(good, 'pkcs11 token')?.detail).toMatch(/logged in to token "service"; .* v1 pkcs11-gcm:/);
    expect(byName(good, 'master key')).toMatchObject({ ok: true });
    expect(byName(good, 'master key')?.detail).toMatch(
      /matches the key recorded in the store and opens its data/,
    );

    const missing = await doctor({ NOON_CONNECT_PKCS11_KEY_LABEL: 'no-such-key' });
    expect(byName(missing, 'pkcs11 token')).toMatchObject({ ok: false });
    expect(byName(missing, 'pkcs11 token')?.detail).toMatch(/no key labelled "no-such-key"/);
    expect(byName(missing, 'pkcs11 token')?.hint).toMatch(/vault keygen --pkcs11/);
    expect(byName(missing, 'master key')).toMatchObject({ ok: false });
    for (const c of [...good, ...missing]) expect(JSON.stringify(c)).not.toContain(USER_PIN);

    // The store still opens with what the service wrote; doctor wrote nothing into it.
    const store = await openStore(servedEnv!.NOON_CONNECT_STORE!);
    try {
      expect(await store.getMeta(KEYRING_META_NAME)).toMatch(/"pkcs11-gcm:/);
    } finally {
      await store.close();
    }
  });
});
