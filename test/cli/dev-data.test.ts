// `noon-connect dev` and a data folder whose store was made with another master key: refused at once, before
// the sandbox starts, saying what to do; nothing in the folder is changed.

import { createHmac } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygen } from '../../src/vault/index.js';
import { runCli } from '../helpers/cli.js';
import { connectThroughDashboard, startDev, stopDev } from '../helpers/dev-run.js';
import { freePort } from '../helpers/net.js';
import { freshStoreWithVault } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';
import { createReceiver } from '../helpers/webhook-receiver.js';

describe('noon-connect dev: a data folder with another master key', () => {
  let made: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    // A store an app made with its own master key, fingerprinted in it.
    const s = await freshStoreWithVault('sqlite');
    made = s.file!;
    await s.store.close();
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function folder(withKey: boolean): string {
    const dir = mkdtempSync(join(tmpdir(), 'nc-dev-data-'));
    dirs.push(dir);
    copyFileSync(made, join(dir, 'connect.db'));
    if (withKey) writeFileSync(join(dir, 'master.key'), `${keygen()}\n`, { mode: 0o600 });
    return dir;
  }

  async function dev(dir: string) {
    const run = runCli(['dev', '--data-dir', dir, '--port', String(await freePort()), '--sandbox-port', '0']);
    const code = await run.exit;
    return { code, out: run.stdout(), err: run.stderr() };
  }

  it('a master.key that does not open connect.db: exit 3 naming the store and the ways out; the sandbox never starts', async () => {
    const dir = folder(true);
    const key = readFileSync(join(dir, 'master.key'), 'utf8');
    const r = await dev(dir);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.err).toMatch(/the master key does not open .*connect\.db/);
    expect(r.err).toMatch(/--data-dir <dir>/);
    expect(r.err).toMatch(/remove .*connect\.db to start over/);
    expect(r.out).not.toMatch(/sandbox/);
    expect(existsSync(join(dir, 'sandbox.db'))).toBe(false);
    expect(readFileSync(join(dir, 'master.key'), 'utf8')).toBe(key);
    expect(r.out + r.err).not.toContain(key.trim());
  });

  it('a connect.db without a master.key: exit 3, and no new key is written beside it', async () => {
    const dir = folder(false);
    const r = await dev(dir);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.err).toMatch(/connect\.db exists but .*master\.key does not/);
    expect(r.err).toMatch(/--data-dir <dir>/);
    expect(existsSync(join(dir, 'master.key'))).toBe(false);
  });

  it("dev delivers events to NOON_CONNECT_WEBHOOK_URLS, signed with the folder's webhook.secret, which listen uses too", async () => {
    const receiver = await createReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'nc-dev-hooks-'));
    dirs.push(dir);
    const run = await startDev(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/helpers/cli-entry.ts',
        'dev',
        '--data-dir',
        dir,
        '--port',
        String(await freePort()),
        '--sandbox-port',
        '0',
      ],
      process.cwd(),
      { ...process.env, NOON_CONNECT_WEBHOOK_URLS: receiver.url, NOON_CONNECT_WEBHOOK_SECRET: '' },
    );
    try {
      expect(run.output()).toContain(`webhooks:   ${receiver.url}`);
      await connectThroughDashboard(run);
      const got = await waitFor('the connected event', () =>
        receiver.received.find((r) => JSON.parse(r.body).type === 'connected'),
      );
      const secret = readFileSync(join(dir, 'webhook.secret'), 'utf8').trim();
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(got.headers['x-noon-connect-signature'] ?? '')!;
      expect(m[2]).toBe(createHmac('sha256', secret).update(`${m[1]}.${got.body}`).digest('hex'));
      expect(run.output()).not.toContain(secret);
    } finally {
      await stopDev(run);
      await receiver.close();
    }
  }, 90_000);

  it('dev --json prints its start-up details as one JSON object: dashboard, sign-in link, every seller', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-dev-json-'));
    dirs.push(dir);
    const run = runCli([
      'dev',
      '--json',
      '--data-dir',
      dir,
      '--port',
      String(await freePort()),
      '--sandbox-port',
      '0',
    ]);
    try {
      const [line] = await run.waitFor(/^\{.*\}$/m, 60_000);
      const o = JSON.parse(line) as { dashboard: string; sign_in: string; sellers: { email: string }[] };
      expect(o.dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(o.sign_in.startsWith(`${o.dashboard}sign-in?token=`)).toBe(true);
      expect(o.sellers.map((s) => s.email)).toEqual([
        'layla@sellers.example',
        'omar@sellers.example',
        'sara@sellers.example',
      ]);
      expect(run.stdout().trim()).toBe(line);
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  }, 90_000);
});
