// Every way a connect can end, as a seller meets it in a real Chromium: connected, already connected (the
// callback opened again), denied (Deny on the consent page), expired, failed (noon refuses the code), a used
// connect link, and a return path the dev service does not serve itself. Each page says what happened and has a
// way back that works: clicking it lands on a real page (the dashboard, signed in), never on a bare error.
// Screenshots of every page go to test-artifacts/outcome-*.png.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsEnabled, CHROMIUM_ARGS, CHROMIUM_PATH, requireChromium } from '../helpers/browser.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

describe.skipIf(!browserTestsEnabled())('connect outcome pages in Chromium, each with a way back', () => {
  let stack: ServiceStack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let tenantSeq = 0;

  beforeAll(async () => {
    requireChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    stack = await startServiceStack({
      env: {
        NOON_CONNECT_MODE: 'dev',
        NOON_CONNECT_ADMIN_TOKEN: undefined,
        NOON_CONNECT_RETURN_PATHS: '/,/settings/noon',
      },
      sandboxOptions: { poolSize: 6 },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stack?.close();
  });

  /** A fresh browser, signed in to the dashboard (so the way back can be followed to a real page). */
  async function signedInPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(stack.service.signInUrl!);
    expect(page.url()).toBe(`${stack.url}/`);
    return page;
  }

  /** A connect link from the REST API, as the integrator's backend makes one. */
  async function connectLink(returnTo?: string): Promise<string> {
    const res = await fetch(`${stack.url}/api/connect-links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        tenant: `outcome-${++tenantSeq}`,
        ...(returnTo ? { return_to: returnTo } : {}),
      }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { url: string }).url;
  }

  /** Opens a link, signs in on the sandbox consent page, picks `project`, and clicks Allow or Deny. */
  async function consent(
    page: Page,
    link: string,
    decision: 'Allow' | 'Deny',
    project?: string,
  ): Promise<void> {
    await page.goto(link);
    expect(page.url().startsWith(stack.sb.url)).toBe(true);
    const seller = stack.sb.fixtures.seller;
    await page.fill('input[name=email]', seller.email);
    await page.fill('input[name=password]', 'sandbox');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('form[action="/oauth/decide"]');
    if (project) await page.check(`input[name=project_code][value=${project}]`);
    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(stack.url)),
      page.click(`button:has-text("${decision}")`),
    ]);
    await page.waitForLoadState('load');
  }

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `outcome-${name}.png`), fullPage: true });

  /** The page's title and way back; then follows it and checks it lands on the signed-in dashboard. */
  async function expectWayBack(page: Page, name: string, title: string, href: string): Promise<void> {
    await expect(page.locator('h1').textContent()).resolves.toBe(title);
    const back = page.locator('a.button');
    await expect(back.count()).resolves.toBe(1);
    await expect(back.getAttribute('href')).resolves.toBe(href);
    await shot(page, name);
    await Promise.all([page.waitForLoadState('load'), back.click()]);
    const landed = new URL(page.url());
    if (href === '/') {
      expect(landed.pathname).toBe('/');
      await expect(page.locator('h1').textContent()).resolves.toBe('Connections');
    } else {
      expect(`${landed.pathname}${landed.search}`).toBe(href);
      await expect(page.locator('a.button').getAttribute('href')).resolves.toBe('/');
    }
  }

  const projects = () => stack.sb.fixtures.seller.projects;

  it('C8 connected, then the same callback again: "Connected" and "Already connected", each back to the dashboard', async () => {
    const page = await signedInPage();
    const callbacks: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/connect/callback') callbacks.push(r.url());
    });
    await consent(page, await connectLink(), 'Allow', projects()[0]);
    expect(new URL(page.url()).pathname).toMatch(/^\/connect\/done\//);
    await expect(page.locator('p').first().textContent()).resolves.toContain(projects()[0]);
    await expectWayBack(page, 'connected', 'Connected', '/');

    expect(callbacks).toHaveLength(1);
    await page.goto(callbacks[0]!);
    await expectWayBack(page, 'already-connected', 'Already connected', '/');
  });

  it('C1 Deny on the consent page: "Not connected", back to the return path the link named', async () => {
    const page = await signedInPage();
    await consent(page, await connectLink(), 'Deny');
    await expect(page.locator('body').textContent()).resolves.toContain('You chose not to give access');
    await expectWayBack(page, 'denied', 'Not connected', '/');
  });

  it('a used connect link: "already used", with the way back', async () => {
    const page = await signedInPage();
    const link = await connectLink();
    await page.goto(link);
    expect(page.url().startsWith(stack.sb.url)).toBe(true);
    const again = await page.goto(link);
    expect(again?.status()).toBe(410);
    await expectWayBack(page, 'link-used', 'This connect link was already used', '/');
  });

  it('an expired connect: "This link expired", with the way back', async () => {
    const page = await signedInPage();
    const link = await connectLink();
    await page.goto(link);
    const seller = stack.sb.fixtures.seller;
    await page.fill('input[name=email]', seller.email);
    await page.fill('input[name=password]', 'sandbox');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('form[action="/oauth/decide"]');
    await page.check(`input[name=project_code][value=${projects()[1] ?? projects()[0]}]`);
    // The seller took too long: the connect attempt ran out while the consent page was open.
    stack.sb.clock.advance(11 * 60_000);
    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(stack.url)),
      page.click('button:has-text("Allow")'),
    ]);
    await expectWayBack(page, 'expired', 'This link expired', '/');
  });

  it('C2 a failed connect (noon refuses the code): "Not connected" with a reference, and the way back', async () => {
    const page = await signedInPage();
    const fault = stack.sb.faults.add({
      endpoint: 'token.create',
      action: { type: 'status', status: 400, body: { error: 'invalid_grant' } },
      always: true,
    });
    try {
      await consent(page, await connectLink(), 'Allow', projects()[1] ?? projects()[0]);
    } finally {
      stack.sb.faults.remove(fault);
    }
    await expect(page.locator('.muted').textContent()).resolves.toMatch(/^Reference /);
    await expectWayBack(page, 'failed', 'Not connected', '/');
  });

  it('a return path the dev service does not serve: the outcome and a link to the dashboard, not a bare 404', async () => {
    const page = await signedInPage();
    await consent(page, await connectLink('/settings/noon'), 'Deny');
    await expectWayBack(page, 'denied-return-path', 'Not connected', '/settings/noon?connect_status=denied');
    await expect(page.locator('h1').textContent()).resolves.toBe('Not connected');
    await expect(page.locator('body').textContent()).resolves.toContain('/settings/noon');
    await shot(page, 'return-path-in-dev');
    await Promise.all([page.waitForLoadState('load'), page.click('a.button')]);
    await expect(page.locator('h1').textContent()).resolves.toBe('Connections');

    // The API and an unknown path answer in one error shape.
    const res = await fetch(`${stack.url}/no/such/path`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such route' } });
  });

  it('the dashboard at 1280 px: the whole Connections table fits, and a disconnected connection’s health is greyed, not green', async () => {
    const page = await signedInPage();
    await consent(page, await connectLink(), 'Allow', projects()[1] ?? projects()[0]);
    await page.setViewportSize({ width: 1280, height: 800 });
    const api = (method: string, path: string) =>
      fetch(`${stack.url}${path}`, { method, headers: { authorization: `Bearer ${stack.apiToken}` } });
    const list = (await (await api('GET', `/api/connections?tenant=outcome-${tenantSeq}`)).json()) as {
      connections: { id: string }[];
    };
    const id = list.connections[0]!.id;
    const health = (await (await api('POST', `/api/connections/${id}/health-check`)).json()) as {
      ok: boolean;
    };
    expect(health.ok).toBe(true);
    await page.goto(`${stack.url}/`);
    const row = page.locator('tr', { has: page.locator(`a[href="/connections/${id}"]`) }).first();
    await expect(row.locator('.badge.b-ok').count()).resolves.toBe(2); // status "active" and health "ok"
    const fits = await page
      .locator('.table')
      .first()
      .evaluate((el) => el.scrollWidth <= el.clientWidth);
    expect(fits).toBe(true);
    const details = await row.locator('a.details').boundingBox();
    expect(details!.x + details!.width).toBeLessThanOrEqual(1280);
    await page.screenshot({ path: join(ARTIFACTS, 'outcome-dashboard-1280.png'), fullPage: true });

    expect((await api('POST', `/api/connections/${id}/disconnect`)).status).toBe(200);
    await page.goto(`${stack.url}/`);
    const after = page.locator('tr', { has: page.locator(`a[href="/connections/${id}"]`) }).first();
    await expect(after.locator('.badge.b-ok').count()).resolves.toBe(0);
    // The health cell (the 7th): the last check, greyed.
    await expect(after.locator('td').nth(6).locator('.badge').textContent()).resolves.toBe('was ok');
    await expect(after.locator('td').nth(6).locator('.badge.b-off').count()).resolves.toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'outcome-dashboard-disconnected.png'), fullPage: true });
  });
});
