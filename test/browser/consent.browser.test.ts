// The consent flow in a real Chromium: sign in, choose a project, Allow or Deny, land on the integrator's
// callback; and a third-party page that frames the consent page gets nothing rendered (E1, NC17, NC19–NC21).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientFixture, Sandbox } from '../../src/sandbox/index.js';
import {
  authorizeUrl,
  browserTestsEnabled,
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  type LittleServer,
  littleServer,
  requireChromium,
} from '../helpers/browser.js';
import { gw, integratorLogin, startSandbox } from '../helpers/sandbox.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

describe.skipIf(!browserTestsEnabled())('consent flow in Chromium', () => {
  let sb: Sandbox;
  let browser: Browser;
  let receiver: LittleServer;
  let framer: LittleServer;
  let client: ClientFixture;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    requireChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    // Both little servers answer /frame?src=… with a page that frames src, and anything else with "received".
    const page = (url: URL) =>
      url.pathname === '/frame'
        ? `<!doctype html><title>framer</title><iframe id="f" width="600" height="400" src="${escapeAttr(url.searchParams.get('src') ?? '')}"></iframe>`
        : '<!doctype html><title>received</title><p>received</p>';
    // The receiver shares the sandbox's host (127.0.0.1, another port): same site, another origin. The framer
    // is on localhost: another site altogether.
    [sb, receiver, framer] = await Promise.all([
      startSandbox({ poolSize: 2 }),
      littleServer('127.0.0.1', page),
      littleServer('localhost', page),
    ]);
    client = sb.addClient({
      client_id: 'browser-app',
      name: 'Browser App',
      redirect_uris: [`${receiver.origin}/connect/callback`],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await Promise.all([sb?.close(), receiver?.close(), framer?.close()]);
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
    contexts.push(context);
    return context.newPage();
  }

  function authorize(state: string): string {
    return authorizeUrl(sb, { client_id: client.clientId, state });
  }

  /** Opens the authorize URL and signs in through the page's own form. */
  async function signIn(page: Page, state: string, seller: { email: string; password: string }) {
    await page.goto(authorize(state));
    await expect(page.locator('h1').textContent()).resolves.toContain('Sign in to continue to Browser App');
    await page.fill('input[name=email]', seller.email);
    await page.fill('input[name=password]', seller.password);
    await page.click('button:has-text("Sign in")');
    // The sign-in answers 303 back to the same authorize URL, which now shows the consent form.
    await page.waitForSelector('form[action="/oauth/decide"]');
    expect(new URL(page.url()).searchParams.get('state')).toBe(state);
    await expect(page.locator('h1').textContent()).resolves.toContain('Browser App wants access');
  }

  async function landOnCallback(page: Page, button: string): Promise<URL> {
    const callback = `${receiver.origin}/connect/callback`;
    await Promise.all([page.waitForURL((u) => u.toString().startsWith(callback)), page.click(button)]);
    return new URL(page.url());
  }

  it('NC17 NC20 approve: sign in, choose a project, Allow, land on the callback; the code redeems', async () => {
    const page = await newPage();
    const state = `st-${Date.now().toString(36)}-approve`;
    const seller = sb.fixtures.sellers.find((s) => s.projects.length > 1)!;
    await signIn(page, state, seller);
    // The page offers exactly the seller's projects; the seller picks the second one.
    const offered = await page
      .locator('input[name=project_code]')
      .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
    expect(offered).toEqual(seller.projects);
    await page.check(`input[name=project_code][value=${seller.projects[1]}]`);
    await page.screenshot({ path: join(ARTIFACTS, 'consent-page.png'), fullPage: true });

    // The seller cookie as the browser stored it.
    const cookies = await page.context().cookies(sb.url);
    const sellerCookie = cookies.find((c) => c.name === 'sbx_seller');
    expect(sellerCookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });

    const landed = await landOnCallback(page, 'button[value=approve]');
    expect([...landed.searchParams.keys()]).toEqual(['code', 'state']);
    expect(landed.searchParams.get('state')).toBe(state);
    const code = landed.searchParams.get('code')!;
    // The receiver saw the same values, and no Referer naming the consent page (Referrer-Policy: no-referrer).
    const hit = receiver.requests.find((r) => r.url === landed.toString());
    expect(hit).toBeDefined();
    expect(hit!.headers.referer).toBeUndefined();

    const created = await gw(sb, '/identity/oauth/v1/token/create', {
      cookie: await integratorLogin(sb),
      body: {
        grant_type: 'authorization_code',
        code,
        client_id: client.clientId,
        client_secret: client.clientSecret,
      },
    });
    expect(created.status).toBe(200);
    expect(created.json.project_code).toBe(seller.projects[1]);
  });

  it('NC21 deny: Deny lands on the callback with error=access_denied and the state, and no code', async () => {
    const page = await newPage();
    const state = `st-${Date.now().toString(36)}-deny`;
    const seller = sb.fixtures.sellers.find((s) => s.projects.length === 1)!;
    const codesBefore = sb.world.codes.size;
    await signIn(page, state, seller);
    const landed = await landOnCallback(page, 'button[value=deny]');
    expect([...landed.searchParams]).toEqual([
      ['error', 'access_denied'],
      ['state', state],
    ]);
    expect(sb.world.codes.size).toBe(codesBefore);
  });

  it('E1 NC19 a page on another origin that frames the consent page gets nothing rendered', async () => {
    const page = await newPage();
    // Signed in first: a same-site framer gets the seller's Lax cookie sent along, so the framed page would be
    // the consent form with its Allow button if it rendered (the clickjacking target).
    await signIn(page, 'st-frame-signin', sb.fixtures.seller);

    async function framed(host: LittleServer, src: string): Promise<Frame> {
      await page.goto(`${host.origin}/frame?src=${encodeURIComponent(src)}`);
      const handle = await page.waitForSelector('#f');
      await page.waitForFunction(() => document.readyState === 'complete');
      const frame = await handle.contentFrame();
      if (!frame) throw new Error('no frame');
      await frame.waitForLoadState('load').catch(() => {});
      return frame;
    }
    async function formCount(frame: Frame): Promise<number> {
      return frame.evaluate(() => document.forms.length).catch(() => 0);
    }

    // Control: the framer renders a page that allows framing, so the setup itself works.
    const control = await framed(framer, `${receiver.origin}/frameable`);
    expect(control.url()).toBe(`${receiver.origin}/frameable`);
    await expect(control.textContent('body')).resolves.toContain('received');

    for (const [host, state] of [
      [framer, 'st-frame-cross-site'],
      [receiver, 'st-frame-same-site'],
    ] as const) {
      const src = authorize(state);
      const frame = await framed(host, src);
      // Chromium replaces a frame refused by frame-ancestors / X-Frame-Options with its error page.
      expect(frame.url()).not.toBe(src);
      expect(frame.url()).toMatch(/^chrome-error:/);
      expect(await formCount(frame)).toBe(0);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'consent-framed.png') });
    // The page itself still works at the top level.
    await page.goto(authorize('st-frame-top'));
    expect(await page.locator('form[action="/oauth/decide"]').count()).toBe(1);
  });
});

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
