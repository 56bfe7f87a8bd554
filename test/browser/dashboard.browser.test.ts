// The whole dev flow in a real Chromium: a dev-mode service against the sandbox, the dashboard's "Connect a
// seller", the seller's sign-in and approval on the sandbox consent page, back on the dashboard connected; then
// Test connection, Rotate key and Disconnect, each checked on the page and in the sandbox's ledger and journal.
// Every page is kept as a screenshot in test-artifacts/.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsEnabled, CHROMIUM_ARGS, CHROMIUM_PATH, requireChromium } from '../helpers/browser.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

describe.skipIf(!browserTestsEnabled())('dashboard in Chromium: the dev flow end to end', () => {
  let stack: ServiceStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** What the flow connected, filled in by the first test and used by the next ones. */
  let project = '';
  let firstKey = '';
  let connectionPath = '';

  beforeAll(async () => {
    requireChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    // Dev mode without an admin token, as `noon-connect dev` runs it: sign-in through the link made at start.
    stack = await startServiceStack({
      env: {
        NOON_CONNECT_MODE: 'dev',
        NOON_CONNECT_ADMIN_TOKEN: undefined,
        NOON_CONNECT_API_TOKEN: undefined,
      },
      sandboxOptions: { poolSize: 4 },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    // A step that cannot happen fails in seconds, not at the test timeout.
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close();
    await stack?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const flash = () => page.locator('.flash').textContent();

  it('C8 H1 opens the sign-in link, connects a seller through the sandbox consent page and lands back connected', async () => {
    const { sb, url } = stack;
    // Without the link's token the dashboard asks for sign-in; the link signs in and lands on a clean URL.
    await page.goto(`${url}/`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.goto(stack.service.signInUrl!);
    expect(page.url()).toBe(`${url}/`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Connections');
    await expect(page.locator('.dev').textContent()).resolves.toBe('DEV');
    await expect(page.locator('td.empty').textContent()).resolves.toContain('No seller is connected yet');
    await shot('dashboard-connections-empty');

    // The dashboard's own cookie as Chromium stored it: HttpOnly and SameSite=Strict.
    const dash = (await context.cookies(url)).find((c) => c.name === 'nc_dash');
    expect(dash).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });

    await expect(page.inputValue('input[name=tenant]')).resolves.toBe('demo');
    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(sb.url)),
      page.click('button:has-text("Connect a seller")'),
    ]);
    // The sandbox's sign-in page: sign in as the quick-start seller.
    const seller = sb.fixtures.seller;
    expect(seller.email).toBe('layla@sellers.example');
    await page.fill('input[name=email]', seller.email);
    await page.fill('input[name=password]', 'sandbox');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('form[action="/oauth/decide"]');
    project = (await page.locator('input[name=project_code]:checked').inputValue()) || seller.projects[0]!;
    await page.check(`input[name=project_code][value=${project}]`);
    await shot('dashboard-sandbox-consent');

    // The binding cookie the connect link set survives the trip to noon and back (SameSite=Lax).
    const binding = (await context.cookies(url)).find((c) => c.name === 'nc_bind');
    expect(binding).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(`${url}/connections`)),
      page.click('button[value=approve]'),
    ]);
    await expect(flash()).resolves.toContain(`Seller connected: project ${project} for tenant demo.`);
    const row = page.locator('tbody tr', { hasText: project });
    await expect(row.locator('.badge').first().textContent()).resolves.toBe('active');
    await shot('dashboard-connections-connected');

    // The sandbox issued exactly one key for this seller project, delivered, and the page shows its id.
    const issued = sb.ledger.entries({ sellerProject: project, via: 'exchange' });
    expect(issued).toHaveLength(1);
    expect(issued[0]!.delivered).toBe(true);
    firstKey = issued[0]!.keyId;
    // Long ids are cut in the table and whole on hover (and on the connection's page, which also has the
    // oauth_request_id: the table leaves it out so that it fits 1280 px with its Details link).
    for (const id of [firstKey, issued[0]!.channelIdentifier])
      await expect(row.locator(`code[title="${id}"]`).count()).resolves.toBe(1);
    await expect(row.locator(`code[title="${issued[0]!.oauthRequestId!}"]`).count()).resolves.toBe(0);
    const details = await row.locator('a.details').boundingBox();
    expect(details!.x + details!.width).toBeLessThanOrEqual(1280);
  });

  it('Test connection signs in as the seller: the page says it works and the sandbox saw a whoami', async () => {
    const { sb, url } = stack;
    await page.click(`tbody tr:has-text("${project}") a:has-text("Details")`);
    await page.waitForURL((u) => u.pathname.startsWith('/connections/'));
    connectionPath = new URL(page.url()).pathname;
    await expect(page.locator('h1').textContent()).resolves.toContain(project);
    const fields = (await page.locator('dl.fields').textContent()) ?? '';
    expect(fields).toContain('never checked');
    expect(fields).toContain(firstKey);
    expect(fields).toContain(sb.ledger.entries({ sellerProject: project })[0]!.channelIdentifier);
    expect(fields).toContain(sb.ledger.entries({ sellerProject: project })[0]!.oauthRequestId!);
    await shot('dashboard-connection');

    const whoamis = sb.journal.count({ endpoint: 'whoami', status: 200 });
    await Promise.all([
      page.waitForURL(`${url}${connectionPath}`),
      page.click('button:has-text("Test connection")'),
    ]);
    await expect(flash()).resolves.toContain('Connection works');
    expect(sb.journal.count({ endpoint: 'whoami', status: 200 })).toBe(whoamis + 1);
    await expect(page.locator('dl.fields').textContent()).resolves.toContain('login and whoami succeeded');
    // A reload shows the result once only (POST → 303 → GET, the flash is consumed).
    await page.reload();
    await expect(page.locator('.flash').count()).resolves.toBe(0);
    await shot('dashboard-connection-tested');
  });

  it('P7 Rotate key: a new key is made and used, then the old one is removed on the sandbox', async () => {
    const { sb, url } = stack;
    await Promise.all([
      page.waitForURL(`${url}${connectionPath}`),
      page.click('button:has-text("Rotate key")'),
    ]);
    const text = (await flash()) ?? '';
    expect(text).toContain('Key rotated');
    const created = sb.ledger.entries({ sellerProject: project }).filter((e) => e.keyId !== firstKey);
    expect(created).toHaveLength(1);
    const newKey = created[0]!.keyId;
    expect(text).toContain(newKey);
    await expect(page.locator('dl.fields').textContent()).resolves.toContain(newKey);
    // Make-before-break: the new key is live on the sandbox and the old one was removed after the switch.
    expect(created[0]!.removedAt).toBeUndefined();
    const old = sb.ledger.entries({ sellerProject: project }).find((e) => e.keyId === firstKey)!;
    expect(old.removedAt).toBeTypeOf('number');
    expect(old.removedAt!).toBeGreaterThanOrEqual(created[0]!.issuedAt);
    await shot('dashboard-connection-rotated');
  });

  it('Disconnect asks first, then removes every key on the sandbox and shows the connection disconnected', async () => {
    const { sb, url } = stack;
    await Promise.all([
      page.waitForURL(`${url}${connectionPath}/disconnect`),
      page.click('a:has-text("Disconnect")'),
    ]);
    await expect(page.locator('h1').textContent()).resolves.toContain(`Disconnect ${project}?`);
    await shot('dashboard-disconnect-confirm');
    // Nothing was removed by opening the confirmation page.
    expect(
      sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined),
    ).toHaveLength(1);

    await Promise.all([
      page.waitForURL(`${url}${connectionPath}`),
      page.click('button:has-text("Disconnect")'),
    ]);
    await expect(flash()).resolves.toContain(`Disconnected ${project}`);
    await expect(page.locator('h1 .badge').textContent()).resolves.toBe('disconnected');
    // Test and Rotate are offered only for an active connection.
    await expect(page.locator('button:has-text("Rotate key")').count()).resolves.toBe(0);
    expect(
      sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined),
    ).toHaveLength(0);
    await shot('dashboard-connection-disconnected');
  });

  it('the attempts, needs-attention and events pages show the journal states and the events of the run', async () => {
    const { url } = stack;
    await page.click('nav a:has-text("Attempts")');
    await page.waitForURL(`${url}/attempts`);
    const attempts = (await page.locator('tbody').textContent()) ?? '';
    expect(attempts).toContain('connect');
    expect(attempts).toContain('rotate');
    expect(attempts).toContain('connected');
    await shot('dashboard-attempts');

    await page.click('nav a:has-text("Needs attention")');
    await page.waitForURL(`${url}/attention`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Needs attention');
    await shot('dashboard-attention');

    await page.click('nav a:has-text("Events")');
    await page.waitForURL(`${url}/events`);
    const events = (await page.locator('tbody').first().textContent()) ?? '';
    for (const type of ['connected', 'rotated', 'disconnected']) expect(events).toContain(type);
    await shot('dashboard-events');

    await page.click('nav a:has-text("Connections")');
    await page.waitForURL(`${url}/`);
    await expect(page.locator(`tbody tr:has-text("${project}") .badge`).first().textContent()).resolves.toBe(
      'disconnected',
    );
    await shot('dashboard-connections-after');
  });
});

describe.skipIf(!browserTestsEnabled())(
  'dashboard in Chromium: sign-in, and the way back from noon on another site',
  () => {
    let stack: ServiceStack;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;

    beforeAll(async () => {
      requireChromium();
      mkdirSync(ARTIFACTS, { recursive: true });
      // The service on `localhost`, the sandbox on 127.0.0.1: two sites, so SameSite=Strict matters on the way back.
      stack = await startServiceStack({ publicHost: 'localhost', sandboxOptions: { poolSize: 4 } });
      browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
      context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      page = await context.newPage();
      page.setDefaultTimeout(10_000);
    });

    afterAll(async () => {
      await context?.close().catch(() => {});
      await browser?.close();
      await stack?.close();
    });

    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    it('C8 asks for the admin token, refuses a wrong one, and keeps the session in an HttpOnly SameSite=Strict cookie', async () => {
      const { url } = stack;
      expect(new URL(url).hostname).toBe('localhost');
      await page.goto(`${url}/attempts`);
      expect(new URL(page.url()).pathname).toBe('/sign-in');
      await expect(page.locator('h1').textContent()).resolves.toBe('Sign in to the dashboard');
      await shot('dashboard-sign-in');

      await page.fill('input[name=token]', 'not-the-admin-token-at-all');
      await page.click('button:has-text("Sign in")');
      await expect(page.locator('.flash').textContent()).resolves.toBe('That token is not right.');
      await shot('dashboard-sign-in-wrong');

      await page.fill('input[name=token]', stack.adminToken!);
      await Promise.all([page.waitForURL(`${url}/attempts`), page.click('button:has-text("Sign in")')]);
      await expect(page.locator('h1').textContent()).resolves.toBe('Attempts');
      const cookie = (await context.cookies(url)).find((c) => c.name === 'nc_dash');
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
      expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000 + 11 * 3600);
    });

    it('C8 connects a seller through noon on another site and lands back signed in, after one same-site hop', async () => {
      const { sb, url } = stack;
      await page.goto(`${url}/`);
      await page.fill('input[name=tenant]', 'acme');
      await Promise.all([
        page.waitForURL((u) => u.toString().startsWith(sb.url)),
        page.click('button:has-text("Connect a seller")'),
      ]);
      const seller = sb.fixtures.sellers.find((s) => s.projects.length === 1)!;
      await page.fill('input[name=email]', seller.email);
      await page.fill('input[name=password]', seller.password);
      await page.click('button:has-text("Sign in")');
      await page.waitForSelector('form[action="/oauth/decide"]');

      // Record what the dashboard answered on the way back.
      const landings: Promise<[number, boolean]>[] = [];
      page.on('response', (r) => {
        const u = new URL(r.url());
        if (u.origin === url && u.pathname === '/connections')
          landings.push(
            r
              .request()
              .allHeaders()
              .then((h) => [r.status(), (h.cookie ?? '').includes('nc_dash=')]),
          );
      });
      await Promise.all([
        page.waitForSelector('.flash', { state: 'attached' }),
        page.click('button[value=approve]'),
      ]);
      await expect(page.locator('.flash').textContent()).resolves.toBe(
        `Seller connected: project ${seller.projects[0]} for tenant acme.`,
      );
      await shot('dashboard-connected-cross-site');
      // The first landing came from noon's site without the Strict cookie and got the hop page; the hop brought it.
      expect(await Promise.all(landings)).toEqual([
        [200, false],
        [200, true],
      ]);
      expect(sb.ledger.entries({ sellerProject: seller.projects[0]!, via: 'exchange' })).toHaveLength(1);
    });
  },
);
