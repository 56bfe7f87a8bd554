import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BrowserContext,
  chromium,
  type Page,
  type Browser as PwBrowser,
  type Response as PwResponse,
} from 'playwright-core';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FetchLike } from '../../src/client/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { browserTestsEnabled, CHROMIUM_ARGS, CHROMIUM_PATH, requireChromium } from '../helpers/browser.js';
import { type Stack, startStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { tempDir } from '../helpers/stores.js';
import { selfSignedCertificate } from '../helpers/tls.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const SELLER = { email: 'layla@sellers.example', password: 'sandbox' };

describe.skipIf(!browserTestsEnabled())('connect redirect in Chromium over https, two sites', () => {
  let dir: string;
  let tls: { key: string; cert: string };
  let sb: Sandbox;
  let agent: Agent;
  let stack: Stack;
  let browser: PwBrowser;
  const contexts: BrowserContext[] = [];
  /** Captures of connector answers still being read (awaited before each secret search). */
  const captures: Promise<void>[] = [];

  beforeAll(async () => {
    requireChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = tempDir('nc-tls-');
    tls = selfSignedCertificate();
    sb = await startSandbox({ tls, poolSize: 2 });
    // The seller's browser meets the sandbox as localhost: another site than the connector on 127.0.0.1.
    const sandboxSite = `https://localhost:${new URL(sb.url).port}`;
    // The connector's own calls to Noon trust the test certificate, and nothing else is relaxed.
    agent = new Agent({ connect: { ca: tls.cert } });
    const trusting: FetchLike = (input, init) =>
      undiciFetch(input, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response>;
    stack = await startStack({
      wire: 'search',
      sandbox: sb,
      tls,
      host: '127.0.0.1',
      noon: { environment: { local: sandboxSite }, fetch: trusting },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'],
    });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stack?.close();
    await sb?.close();
    await agent?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await Promise.all(captures.splice(0));
    expect(stack.search.captured).toBeGreaterThan(0);
    expect(stack.search.count('client secret')).toBeGreaterThan(0);
    expect(stack.search.findings()).toEqual([]);
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 900, height: 760 },
    });
    contexts.push(context);
    const page = await context.newPage();
    // Every answer from the connector goes to the secret search; the state and code the browser carried are
    // registered as secrets (the authorize URL and the callback URL carry them by design, nothing else may).
    page.on('response', (res) => {
      captures.push(capture(res));
    });
    return page;
  }

  /** One connector answer into the secret search (other sites' answers are not the connector's). */
  async function capture(res: PwResponse): Promise<void> {
    const url = new URL(res.url());
    if (url.origin !== stack.origin) return;
    const headers = new Headers(await res.allHeaders());
    if (url.pathname === '/connect/start') {
      const loc = headers.get('location');
      if (loc) {
        const authorize = new URL(loc);
        stack.search.add('state', authorize.searchParams.get('state'));
        authorize.searchParams.set('state', '[the state]');
        headers.set('location', authorize.toString());
      }
    }
    if (url.pathname === '/connect/callback') stack.search.add('code', url.searchParams.get('code'));
    const body = res.status() >= 300 && res.status() < 400 ? '' : await res.text().catch(() => '');
    stack.search.captureResponse(`browser ${res.status()} ${url.pathname}`, res.status(), headers, body);
  }

  /** Start → sign in on the consent page → choose the project → Allow; resolves on the page the flow ends on. */
  async function runFlow(page: Page, tenant: string, project: string): Promise<void> {
    await page.goto(`${stack.origin}/connect/start?tenant=${tenant}`);
    expect(new URL(page.url()).host).toBe(`localhost:${new URL(sb.url).port}`);
    await page.fill('input[name=email]', SELLER.email);
    await page.fill('input[name=password]', SELLER.password);
    await Promise.all([
      page.waitForSelector('form[action="/oauth/decide"]'),
      page.click('button:has-text("Sign in")'),
    ]);
    await page.check(`input[name=project_code][value=${project}]`);
    await Promise.all([
      // A redirect never commits, so the first page on the connector is where the callback ended.
      page.waitForURL((u) => u.origin === stack.origin),
      page.click('button[value=approve]'),
    ]);
  }

  it('C8 the whole redirect in Chromium: start on 127.0.0.1, consent on localhost, back with the Lax __Host- cookie, connected', async () => {
    const page = await newPage();
    const callbacks: { status: number; url: string }[] = [];
    page.on('response', (res) => {
      if (res.url().startsWith(stack.callbackUrl)) callbacks.push({ status: res.status(), url: res.url() });
    });
    const mark = stack.journalMark();
    await runFlow(page, 'tenant-browser', 'PRJ20002');

    // Landed on the clean "connected" page of the connector: no code, no state.
    const landed = new URL(page.url());
    expect(landed.origin).toBe(stack.origin);
    expect(landed.pathname).toMatch(/^\/connect\/done\/[0-9a-f-]{36}$/);
    expect(landed.search).toBe('');
    await expect(page.locator('h1').textContent()).resolves.toBe('Connected');
    await expect(page.locator('body').textContent()).resolves.toContain('PRJ20002');
    await page.screenshot({ path: join(ARTIFACTS, 'connect-done.png') });

    // The callback came back from the other site and was taken: the binding cookie travelled with it.
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]!.status).toBe(303);
    const cb = new URL(callbacks[0]!.url);
    expect([...cb.searchParams.keys()].sort()).toEqual(['code', 'state']);

    // The cookie as the browser stored it.
    const cookies = await page.context().cookies(stack.origin);
    const bind = cookies.find((c) => c.name === '__Host-nc_bind');
    expect(bind).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    expect(bind!.domain).toBe('127.0.0.1');
    expect(cookies.some((c) => c.name === 'nc_bind')).toBe(false);
    // HttpOnly: no script on the page sees it.
    await expect(page.evaluate(() => document.cookie)).resolves.not.toContain('nc_bind');

    // One connection for the tenant, one exchange upstream.
    const conns = await stack.connector.listConnections({ tenant: 'tenant-browser' });
    expect(conns.map((c) => [c.sellerProject, c.status])).toEqual([['PRJ20002', 'active']]);
    expect(stack.upstreamSince(mark, 'token.create')).toHaveLength(1);
    expect(stack.upstreamSince(mark, 'token.exchange')).toHaveLength(1);
    expect(stack.search.count('state')).toBeGreaterThan(0);
    expect(stack.search.count('code')).toBeGreaterThan(0);
    expect(stack.search.count('access token')).toBeGreaterThan(0);
  });

  it('C8 control: the same cookie made SameSite=Strict is dropped on the way back from the other site, and the callback refuses the state', async () => {
    const page = await newPage();
    // Rewrite only the start answer's cookie; everything else is the connector's own answer.
    await page.route(`${stack.origin}/connect/start**`, async (route) => {
      const res = await route.fetch({ maxRedirects: 0 });
      const headers = res.headers();
      headers['set-cookie'] = headers['set-cookie']!.replace('SameSite=Lax', 'SameSite=Strict');
      await route.fulfill({ response: res, headers });
    });
    const mark = stack.journalMark();
    await runFlow(page, 'tenant-browser-strict', 'PRJ20001');
    const cookies = await page.context().cookies(stack.origin);
    expect(cookies.find((c) => c.name === '__Host-nc_bind')?.sameSite).toBe('Strict');
    // The cross-site redirect arrived without the cookie: the state is refused, nothing is sent to Noon.
    expect(new URL(page.url()).pathname).toBe('/connect/callback');
    await expect(page.locator('h1').textContent()).resolves.toBe('This connect link is not valid');
    expect(stack.upstreamSince(mark, 'token.create')).toEqual([]);
    expect(await stack.connector.listConnections({ tenant: 'tenant-browser-strict' })).toEqual([]);
  });
});
