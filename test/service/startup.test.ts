// Start-up refusals: every configuration problem listed at once, HTTPS required for non-loopback URLs in
// production, the admin and API tokens required outside dev, and a missing, wrong or changed master key
// refused before anything is written. `serve` exits 3 with the list.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { createService, parseConfig, StartupError } from '../../src/service/index.js';
import { storeFailure } from '../../src/service/wiring.js';
import { runCli } from '../helpers/cli.js';
import { goodEnv, problemsOf } from '../helpers/config-env.js';
import { startServiceStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { connectThrough } from '../helpers/seller-flow.js';
import { childEnv, sqliteDump } from '../helpers/service-ops.js';
import { PG_URL, postgresAvailable, tempDir } from '../helpers/stores.js';

async function serve(env: Record<string, string | undefined>) {
  const run = runCli(['serve'], childEnv(env));
  const code = await run.exit;
  return { code, out: run.stdout(), err: run.stderr() };
}

describe('configuration refusals', () => {
  it('the good configuration passes (so each refusal below is caused by what it changes)', () => {
    expect(problemsOf(goodEnv())).toEqual([]);
  });

  it('U12 production refuses a non-HTTPS public URL unless it is loopback', () => {
    expect(problemsOf(goodEnv({ NOON_CONNECT_PUBLIC_URL: 'http://connect.example.com' }))).toEqual([
      'NOON_CONNECT_PUBLIC_URL must use https in production (only loopback may use http)',
    ]);
    expect(problemsOf(goodEnv({ NOON_CONNECT_PUBLIC_URL: 'http://10.0.0.5:8787' }))).toHaveLength(1);
    for (const ok of ['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787'])
      expect(problemsOf(goodEnv({ NOON_CONNECT_PUBLIC_URL: ok })), ok).toEqual([]);
    // Dev mode is for one machine; only production insists, and so does Noon production in any mode.
    expect(
      problemsOf(
        goodEnv({
          NOON_CONNECT_MODE: 'dev',
          NOON_ENV: 'local',
          NOON_LOCAL_URL: 'http://127.0.0.1:8788',
          NOON_CONNECT_PUBLIC_URL: 'http://devbox.internal:8787',
        }),
      ),
    ).toEqual([]);
    expect(
      problemsOf(
        goodEnv({ NOON_CONNECT_MODE: 'dev', NOON_CONNECT_PUBLIC_URL: 'http://devbox.internal:8787' }),
      ),
    ).toEqual(['NOON_CONNECT_PUBLIC_URL must use https in production (only loopback may use http)']);
  });

  it('U12 NOON_ENV=custom and local refuse plain-http Noon URLs that are not loopback', () => {
    const custom = problemsOf(
      goodEnv({
        NOON_ENV: 'custom',
        NOON_AUTHORIZE_URL: 'http://oauth.noon.example/',
        NOON_GATEWAY_URL: 'http://gateway.noon.example',
      }),
    );
    expect(custom).toEqual([
      'NOON_AUTHORIZE_URL must use https in production (only loopback may use http)',
      'NOON_GATEWAY_URL must use https in production (only loopback may use http)',
    ]);
    expect(
      problemsOf(
        goodEnv({
          NOON_ENV: 'custom',
          NOON_AUTHORIZE_URL: 'https://oauth.noon.example/',
          NOON_GATEWAY_URL: 'https://gateway.noon.example',
        }),
      ),
    ).toEqual([]);
    expect(problemsOf(goodEnv({ NOON_ENV: 'custom' }))).toEqual([
      'NOON_AUTHORIZE_URL is required when NOON_ENV=custom',
      'NOON_GATEWAY_URL is required when NOON_ENV=custom',
    ]);
    expect(problemsOf(goodEnv({ NOON_ENV: 'local', NOON_LOCAL_URL: 'http://sandbox.example:8788' }))).toEqual(
      ['NOON_LOCAL_URL must use https in production (only loopback may use http)'],
    );
    expect(
      problemsOf(
        goodEnv({
          NOON_CONNECT_WEBHOOK_URLS: 'http://hooks.example.com/noon',
          NOON_CONNECT_WEBHOOK_SECRET: 'a-webhook-secret-of-length',
        }),
      ),
    ).toEqual([
      'webhook URL at http://hooks.example.com must use https in production (only loopback may use http)',
    ]);
  });

  it('the admin and API tokens are required outside dev, and must be long; dev runs without them on loopback', () => {
    expect(problemsOf(goodEnv({ NOON_CONNECT_ADMIN_TOKEN: undefined, NOON_CONNECT_API_TOKEN: '' }))).toEqual([
      'NOON_CONNECT_ADMIN_TOKEN is required outside dev',
      'NOON_CONNECT_API_TOKEN is required outside dev',
    ]);
    expect(
      problemsOf(goodEnv({ NOON_CONNECT_ADMIN_TOKEN: 'short', NOON_CONNECT_API_TOKEN: 'x'.repeat(23) })),
    ).toEqual([
      'NOON_CONNECT_ADMIN_TOKEN must be at least 24 characters',
      'NOON_CONNECT_API_TOKEN must be at least 24 characters',
    ]);
    expect(
      problemsOf(
        goodEnv({
          NOON_CONNECT_MODE: 'dev',
          NOON_ENV: 'local',
          NOON_LOCAL_URL: 'http://127.0.0.1:8788',
          NOON_CONNECT_PUBLIC_URL: undefined,
          NOON_CONNECT_ADMIN_TOKEN: undefined,
          NOON_CONNECT_API_TOKEN: undefined,
        }),
      ),
    ).toEqual([]);
  });

  it('K5 a missing master key is refused; so is setting it twice', () => {
    expect(problemsOf(goodEnv({ NOON_CONNECT_MASTER_KEY: undefined }))).toEqual([
      'a master key is required: NOON_CONNECT_MASTER_KEY or NOON_CONNECT_MASTER_KEY_FILE',
    ]);
    expect(problemsOf(goodEnv({ NOON_CONNECT_MASTER_KEY_FILE: '/etc/noon-connect/master.key' }))).toEqual([
      'set only one of NOON_CONNECT_MASTER_KEY and NOON_CONNECT_MASTER_KEY_FILE',
    ]);
  });

  it('U12 every problem is listed at once, and serve exits 3 with the whole list without listening', async () => {
    const env = {
      NOON_CONNECT_MODE: 'production',
      NOON_CONNECT_PORT: '0',
      NOON_CONNECT_PUBLIC_URL: 'http://connect.example.com',
      NOON_ENV: 'custom',
      NOON_GATEWAY_URL: 'http://gateway.noon.example',
      NOON_CLIENT_SECRET: 'not-a-real-secret-but-long-enough',
      NOON_CONNECT_LOG_LEVEL: 'loud',
    };
    const expected = [
      'NOON_CONNECT_PUBLIC_URL must use https in production (only loopback may use http)',
      'NOON_AUTHORIZE_URL is required when NOON_ENV=custom',
      'NOON_GATEWAY_URL must use https in production (only loopback may use http)',
      'NOON_CLIENT_ID is required',
      'NOON_KEY_FILE is required',
      'a master key is required: NOON_CONNECT_MASTER_KEY or NOON_CONNECT_MASTER_KEY_FILE',
      'NOON_CONNECT_ADMIN_TOKEN is required outside dev',
      'NOON_CONNECT_API_TOKEN is required outside dev',
      'NOON_CONNECT_LOG_LEVEL must be debug, info, warn or error',
    ];
    expect(problemsOf(env)).toEqual(expected);
    const r = await serve(env);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/refusing to start/);
    for (const p of expected) expect(r.err).toContain(`  - ${p}`);
    expect(r.out).not.toMatch(/serving on/);
    // The refusal quotes no value it was given.
    expect(r.err).not.toContain('not-a-real-secret-but-long-enough');
  });
});

describe('store at start-up', () => {
  it('a store that cannot be opened stops start-up with its cause in one line; serve exits 3', async (ctx) => {
    if (!(await postgresAvailable())) ctx.skip();
    const database = `nc_missing_${randomBytes(4).toString('hex')}`;
    const missing = new URL(PG_URL);
    missing.pathname = `/${database}`;
    const env = goodEnv({ NOON_CONNECT_STORE: missing.href });
    const err = await createService(parseConfig(env), { listen: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).code).toBe('STORE');
    expect((err as StartupError).message).toMatch(
      new RegExp(`^store: cannot open \\(.*database "${database}" does not exist.*\\)$`),
    );
    const r = await serve(env);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`database "${database}" does not exist`);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it("the cause names the driver's words and its causes', never the store URL's password", () => {
    const url = 'postgres://nc:s3cr%40t-pass@db.internal:5432/connect';
    const e = new Error('connect failed for nc:s3cr@t-pass@db.internal', {
      cause: new Error('password authentication failed for user "nc"'),
    });
    const text = storeFailure(e, url);
    expect(text).toBe('connect failed for nc:***@db.internal: password authentication failed for user "nc"');
    expect(storeFailure({ code: 'ECONNREFUSED' }, url)).toBe('ECONNREFUSED');
    expect(storeFailure(new Error('unable to open database file'), 'sqlite:/x/y.db')).toBe(
      'unable to open database file',
    );
  });
});

describe('master key at start-up (K5)', () => {
  let sb: Sandbox;
  let env: Record<string, string | undefined>;
  let file: string;

  beforeAll(async () => {
    sb = await startSandbox();
    // A first start records the key and a connect stores data sealed under it.
    const stack = await startServiceStack({ sandbox: sb });
    const run = await connectThrough(stack, {
      startUrl: stack.service.context.links.create({ tenant: 'tenant-k5' }).url,
    });
    expect(run.callback.status).toBe(303);
    await stack.close();
    env = { ...stack.env, NOON_CONNECT_PORT: '0', NOON_CONNECT_LOG_LEVEL: 'warn' };
    file = env.NOON_CONNECT_STORE!.replace(/^sqlite:/, '');
  }, 60_000);

  afterAll(async () => {
    await sb?.close();
  });

  it('K5 a second start with a different key refuses (in process and through serve) and writes nothing', async () => {
    const before = sqliteDump(file);
    expect(before).toMatch(/"vault\.keyring"/);
    expect(before).toMatch(/"status":"CONNECTED"/);
    const other = { ...env, NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64') };

    const refused = await createService(parseConfig(other), { listen: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(StartupError);
    expect((refused as StartupError).code).toBe('MASTER_KEY');
    expect((refused as Error).message).toMatch(/not the key recorded/);
    expect((refused as Error).message).not.toContain(other.NOON_CONNECT_MASTER_KEY);

    const r = await serve(other);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/refusing to start: master key: .*not the key recorded/);
    expect(r.err + r.out).not.toContain(other.NOON_CONNECT_MASTER_KEY);
    expect(r.out).not.toMatch(/serving on/);

    expect(sqliteDump(file)).toBe(before);
  });

  it('K5 a changed key under the same version, a new current version with the old one dropped, and an unreadable key file all refuse and write nothing', async () => {
    const before = sqliteDump(file);
    const fresh = randomBytes(32).toString('base64');
    const dir = tempDir('nc-k5-');
    const badFile = join(dir, 'master.key');
    writeFileSync(badFile, 'this is not a key\n', { mode: 0o600 });
    const cases: [Record<string, string | undefined>, RegExp][] = [
      [
        { NOON_CONNECT_MASTER_KEY: JSON.stringify({ current: 'v1', keys: { v1: fresh } }) },
        /not the key recorded/,
      ],
      [
        { NOON_CONNECT_MASTER_KEY: JSON.stringify({ current: 'v2', keys: { v2: fresh } }) },
        /"v1" may have sealed data/,
      ],
      [{ NOON_CONNECT_MASTER_KEY: 'too-short' }, /master key/],
      [{ NOON_CONNECT_MASTER_KEY: undefined, NOON_CONNECT_MASTER_KEY_FILE: badFile }, /master key/],
      [
        { NOON_CONNECT_MASTER_KEY: undefined, NOON_CONNECT_MASTER_KEY_FILE: join(dir, 'missing.key') },
        /master key/,
      ],
    ];
    for (const [over, why] of cases) {
      const e = await createService(parseConfig({ ...env, ...over }), { listen: false }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e, JSON.stringify(over)).toBeInstanceOf(StartupError);
      expect((e as StartupError).code).toBe('MASTER_KEY');
      expect((e as Error).message).toMatch(why);
    }
    const r = await serve({
      ...env,
      NOON_CONNECT_MASTER_KEY: JSON.stringify({ current: 'v2', keys: { v2: fresh } }),
    });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/refusing to start: master key/);
    expect(sqliteDump(file)).toBe(before);
  });

  it('the right key starts again; an integrator key Noon refuses stops start-up with exit 3', async () => {
    const ok = await createService(parseConfig(env), { listen: false, logDestination: new PassThrough() });
    await ok.close();
    const dir = tempDir('nc-k5-');
    const foreignKey = join(dir, 'integrator-key.json');
    // A well-formed key file whose key the sandbox never issued.
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fixture = sb.fixtures.integrator.key!;
    writeFileSync(
      foreignKey,
      JSON.stringify({
        ...fixture,
        key_id: randomBytes(16).toString('hex'),
        private_key: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      }),
      { mode: 0o600 },
    );
    const r = await serve({ ...env, NOON_KEY_FILE: foreignKey });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/refusing to start: noon: integrator login failed/);
  });
});
