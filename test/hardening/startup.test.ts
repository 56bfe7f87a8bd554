// H6: unsafe start-up was accepted: an all-zero master key, a master key file of mode 0644 (and `vault keygen >
// file` creates 0644), production bound to 0.0.0.0 with an `http://localhost` public URL, SQLite files created
// 0644. Now each is refused with its reason (exit 3), `vault keygen --out` writes 0600, and every file the
// service creates is 0600 in folders of 0700.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createService, parseConfig, StartupError } from '../../src/service/index.js';
import { runCli } from '../helpers/cli.js';
import { goodEnv, problemsOf } from '../helpers/config-env.js';
import { startServiceStack } from '../helpers/harness.js';
import { childEnv } from '../helpers/service-ops.js';
import { tempDir } from '../helpers/stores.js';

const mode = (path: string) => statSync(path).mode & 0o777;

const env = goodEnv;

async function serve(e: Record<string, string | undefined>) {
  const run = runCli(['serve'], childEnv(e));
  return { code: await run.exit, err: run.stderr(), out: run.stdout() };
}

describe('H6 start-up refuses what is unsafe', () => {
  it('H6 an all-zero master key, or a short repeated pattern, is refused before the store is opened; serve exits 3', async () => {
    for (const key of [Buffer.alloc(32), Buffer.from('abcd'.repeat(8))]) {
      const e = env({ NOON_CONNECT_MASTER_KEY: key.toString('base64') });
      const err = await createService(parseConfig(e), { listen: false }).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(StartupError);
      expect((err as StartupError).code).toBe('MASTER_KEY');
      expect((err as Error).message).toMatch(
        /master key version v1 is not random .*noon-connect vault keygen/,
      );
      expect(existsSync(e.NOON_CONNECT_STORE!.slice('sqlite:'.length))).toBe(false);
    }
    const r = await serve(env({ NOON_CONNECT_MASTER_KEY: Buffer.alloc(32).toString('base64') }));
    expect(r.code).toBe(3);
    expect(r.err).toContain('refusing to start: master key: master key version v1 is not random');
    expect(r.err).not.toContain(Buffer.alloc(32).toString('base64'));
  });

  it('H6 a master key file group or others may read is refused with the chmod to run; 0600 passes that check', async () => {
    const file = join(tempDir('nc-h6-key-'), 'master.key');
    const key = randomBytes(32).toString('base64');
    writeFileSync(file, `${key}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    const e = env({ NOON_CONNECT_MASTER_KEY: undefined, NOON_CONNECT_MASTER_KEY_FILE: file });
    const r = await serve(e);
    expect(r.code).toBe(3);
    expect(r.err).toContain(
      `master key file ${file} is open to group or others (mode 0644): run chmod 600 ${file}`,
    );
    expect(r.err).not.toContain(key);
    chmodSync(file, 0o640);
    expect((await serve(e)).err).toContain(`run chmod 600 ${file}`);
    chmodSync(file, 0o600);
    // Past the master key, start-up stops at the next thing missing here: the integrator's key file.
    const ok = await serve(e);
    expect(ok.code).toBe(3);
    expect(ok.err).not.toContain('chmod');
    expect(ok.err).toContain('integrator key file');
  });

  it('H6 a bind beyond loopback with a plain-http public URL is refused in every mode; behind https it is the documented deployment', async () => {
    const problem =
      'NOON_CONNECT_HOST is not loopback, so NOON_CONNECT_PUBLIC_URL must be https (put a TLS-terminating proxy in front)';
    const problems = (over: Record<string, string | undefined>) => problemsOf(env(over));
    expect(
      problems({ NOON_CONNECT_HOST: '0.0.0.0', NOON_CONNECT_PUBLIC_URL: 'http://localhost:8787' }),
    ).toEqual([problem]);
    expect(
      problems({
        NOON_CONNECT_MODE: 'dev',
        NOON_ENV: 'local',
        NOON_LOCAL_URL: 'http://127.0.0.1:8788',
        NOON_CONNECT_HOST: '0.0.0.0',
        NOON_CONNECT_PUBLIC_URL: 'http://devbox.internal:8787',
      }),
    ).toEqual([problem]);
    expect(problems({ NOON_CONNECT_HOST: '0.0.0.0' })).toEqual([]);
    const r = await serve(
      env({ NOON_CONNECT_HOST: '0.0.0.0', NOON_CONNECT_PUBLIC_URL: 'http://localhost:8787' }),
    );
    expect(r.code).toBe(3);
    expect(r.err).toContain(problem);
  });
});

describe('H6 files are created for their owner only', () => {
  it('H6 vault keygen --out writes a new key file of mode 0600 and never overwrites one', async () => {
    const file = join(tempDir('nc-h6-keygen-'), 'master.key');
    const run = runCli(['vault', 'keygen', '--out', file]);
    expect(await run.exit).toBe(0);
    expect(mode(file)).toBe(0o600);
    const written = readFileSync(file, 'utf8');
    expect(Buffer.from(written.trim(), 'base64')).toHaveLength(32);
    expect(run.stdout()).not.toContain(written.trim());
    const again = runCli(['vault', 'keygen', '--out', file]);
    expect(await again.exit).toBe(1);
    expect(again.stderr()).toContain('it exists');
    expect(readFileSync(file, 'utf8')).toBe(written);
    // The file it writes is one start-up accepts.
    expect(
      (await serve(env({ NOON_CONNECT_MASTER_KEY: undefined, NOON_CONNECT_MASTER_KEY_FILE: file }))).err,
    ).toContain('integrator key file');
  });

  it('H6 the SQLite store, its -wal and -shm files are 0600 and the folder made for them 0700', async () => {
    const dir = join(tempDir('nc-h6-store-'), 'made', 'here');
    const stack = await startServiceStack({
      env: { NOON_CONNECT_STORE: `sqlite:${join(dir, 'connect.db')}` },
    });
    try {
      await stack.service.reconcile();
      expect(mode(dir)).toBe(0o700);
      for (const f of ['connect.db', 'connect.db-wal', 'connect.db-shm'])
        expect(mode(join(dir, f)), f).toBe(0o600);
    } finally {
      await stack.close();
    }
  });
});

describe('H7 the sandbox beyond loopback', () => {
  it('H7 `noon-connect sandbox --host 0.0.0.0` without an admin token refuses to start, saying why', async () => {
    const run = runCli(['sandbox', '--host', '0.0.0.0', '--port', '0'], childEnv({}));
    // Were it to start, it would serve until stopped: stop it so the failure shows as a wrong exit code.
    const stop = setTimeout(() => run.child.kill('SIGTERM'), 20_000);
    const code = await run.exit;
    clearTimeout(stop);
    expect(code).toBe(2);
    expect(run.stderr()).toContain('--admin-token <t> is required');
    expect(run.stdout()).not.toContain('client_secret');
  });
});
