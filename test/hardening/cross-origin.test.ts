// H7: the dev sandbox accepted cross-site requests: `/_sandbox/*` had no token in `dev`, answered any Host (DNS
// rebinding) and cross-site `text/plain` POSTs, so a web page could read the client secret, mint codes and add
// faults; the open dev API accepted an empty POST from another local port. Here a page on another origin, in a
// real Chromium, tries all of it against a running `noon-connect dev` and against a sandbox without any token.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import {
  browserTestsEnabled,
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  type LittleServer,
  littleServer,
  requireChromium,
} from '../helpers/browser.js';
import { type CliRun, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { startSandbox } from '../helpers/sandbox.js';
import { tempDir } from '../helpers/stores.js';

/** What the attacker's page script tries; it sees nothing of no-cors answers, and reports what it could read. */
async function attack(page: Page, o: { sandbox: string; service?: string }): Promise<(string | null)[]> {
  return page.evaluate(async ({ sandbox, service }) => {
    const blind = (url: string, body?: string) =>
      fetch(url, { method: 'POST', mode: 'no-cors', ...(body !== undefined ? { body } : {}) }).catch(
        () => null,
      );
    const read = async (url: string) => {
      try {
        return await (await fetch(url)).text();
      } catch {
        return null;
      }
    };
    await blind(
      `${sandbox}/_sandbox/faults`,
      JSON.stringify({ endpoint: 'login', action: { type: 'status', status: 503 }, times: 100 }),
    );
    await blind(`${sandbox}/_sandbox/authorize`, '{}');
    await blind(`${sandbox}/_sandbox/authorize`);
    await blind(`${sandbox}/_sandbox/switches`, JSON.stringify({ requireUserAgent: false }));
    if (service) {
      await blind(`${service}/api/connect-links`, JSON.stringify({ tenant: 'attacker' }));
      await blind(`${service}/api/connect-links`);
    }
    return [
      await read(`${sandbox}/_sandbox/fixtures`),
      service ? await read(`${service}/api/connections`) : null,
    ];
  }, o);
}

describe.skipIf(!browserTestsEnabled())('H7 pages of other origins in Chromium', () => {
  let dev: CliRun;
  let devSandbox = '';
  let devService = '';
  let dataDir = '';
  let bare: Sandbox;
  let browser: Browser;
  let attacker: LittleServer;

  beforeAll(async () => {
    requireChromium();
    dataDir = tempDir('nc-h7-dev-');
    const port = await freePort();
    dev = runCli(['dev', '--port', String(port), '--sandbox-port', '0', '--data-dir', dataDir], {
      NOON_CONNECT_LOG: 'json',
    });
    devService = (await dev.waitFor(/dashboard:\s+(http:\/\/127\.0\.0\.1:\d+)\//, 30_000))[1]!;
    devSandbox = (await dev.waitFor(/sandbox:\s+(http:\/\/\S+?)\/\s/, 30_000))[1]!;
    // A sandbox as the tests start it: no admin token at all.
    bare = await startSandbox();
    attacker = await littleServer(
      '127.0.0.1',
      () => '<!doctype html><title>a page elsewhere</title><p>hello',
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      // DNS rebinding, simulated: a name the attacker controls now resolves to this machine.
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP rebind.test 127.0.0.1'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await attacker?.close();
    await bare?.close();
    dev?.child.kill('SIGTERM');
    await dev?.exit;
  });

  const devAdmin = async (path: string) => {
    const token = readFileSync(join(dataDir, 'sandbox-admin.token'), 'utf8').trim();
    const r = await fetch(`${devSandbox}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    return r.json() as Promise<any>;
  };

  it('H7 a page on another local port and on another site adds no fault, mints no code, flips no switch, reads no secret, makes no link', async () => {
    const bareSwitches = structuredClone(bare.switches);
    const bareJournal = bare.journal.lastSeq;
    for (const origin of [attacker.origin, `http://localhost:${attacker.port}`]) {
      const page = await browser.newPage();
      await page.goto(`${origin}/`);
      for (const target of [{ sandbox: devSandbox, service: devService }, { sandbox: bare.url }]) {
        const [fixtures, connections] = await attack(page, target);
        expect(fixtures).toBeNull();
        expect(connections).toBeNull();
      }
      await page.close();
    }
    // The tokenless sandbox: every admin request of the page arrived and was refused.
    const admin = bare.journal.entries({ sinceSeq: bareJournal, endpoint: 'admin' });
    expect(admin.length).toBeGreaterThanOrEqual(2 * 5);
    for (const e of admin) expect([403, 415], `${e.method} ${e.path}`).toContain(e.status);
    expect(bare.faults.list()).toEqual([]);
    expect(bare.switches).toEqual(bareSwitches);
    expect(bare.world.requests.size).toBe(0);
    // The dev sandbox (its admin API needs this start's token anyway) and the dev service.
    expect((await devAdmin('/_sandbox/faults')).faults).toEqual([]);
    const devJournal = (await devAdmin('/_sandbox/journal?endpoint=admin')).entries as { status: number }[];
    for (const e of devJournal.slice(0, -2)) expect(e.status).toBeGreaterThanOrEqual(400);
    expect(dev.stdout()).not.toContain('connect link issued');
  });

  it('H7 a page on a DNS name rebound to 127.0.0.1 reads neither the sandbox’s fixtures nor the dev API, same-origin as it is', async () => {
    // The attacker's script runs in a document of the rebound origin (one without a content security policy,
    // as the attacker's own page would be before the name was rebound).
    for (const [target, landing] of [
      [bare.url, '/catalog/v1/items'],
      [devSandbox, '/catalog/v1/items'],
      [devService, '/healthz'],
    ] as const) {
      const rebound = `http://rebind.test:${new URL(target).port}`;
      const page = await browser.newPage();
      await page.goto(`${rebound}${landing}`);
      const answers = await page.evaluate(async () => {
        const get = async (path: string, init?: RequestInit) => {
          const r = await fetch(path, init);
          return { status: r.status, text: await r.text() };
        };
        return [
          await get('/_sandbox/fixtures'),
          await get('/_sandbox/faults', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ endpoint: 'login', action: { type: 'status', status: 503 } }),
          }),
          await get('/api/connections'),
        ];
      });
      for (const a of answers) {
        expect([401, 403, 404], `${rebound} ${a.status}`).toContain(a.status);
        expect(a.text).not.toContain('client_secret');
      }
      await page.close();
    }
    expect(bare.faults.list()).toEqual([]);
    expect((await devAdmin('/_sandbox/faults')).faults).toEqual([]);
  });
});
