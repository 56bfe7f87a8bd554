// The happy path in a real Chromium (--browser): the seller's browser opens the start URL, signs in on the
// sandbox's consent page, allows access and lands back on the application, with every cookie, redirect and
// header rule a browser enforces. Needs the playwright-core package and a Chromium on the machine; nothing is
// downloaded.

import { existsSync } from 'node:fs';
import type { Answer } from './agent.js';
import { CheckAborted } from './agent.js';
import { claimsSuccess, describeAnswer } from './answer.js';
import type { Connected } from './flow.js';
import type { Run } from './run.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(explicit?: string): string | undefined {
  if (explicit) return explicit;
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

/** An error's first line without any query string (a URL in it may carry a code). */
function safeMessage(e: unknown): string {
  const line = String((e as Error)?.message ?? e).split('\n')[0] ?? '';
  return line.replace(/\?[^\s"']*/g, '?…').slice(0, 200);
}

export async function connectInBrowser(run: Run): Promise<Connected> {
  const project = await run.newProject();
  const failed = (evidence: string): Connected => ({
    ok: false,
    project,
    agent: run.agent(),
    claimed: false,
    evidence,
  });
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch {
    return failed('--browser needs the playwright-core package (npm install --save-dev playwright-core)');
  }
  const executablePath = findChromium(run.o.chromiumPath);
  if (!executablePath || !existsSync(executablePath))
    return failed(
      `--browser needs Chromium: none found at ${executablePath ?? CHROMIUM_CANDIDATES.join(', ')} (give --chromium <path>)`,
    );
  run.step = 'Chromium: starting';
  const browser = await pw.chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: run.o.timeoutMs });
  const stop = () => void browser.close().catch(() => {});
  run.signal.addEventListener('abort', stop, { once: true });
  try {
    const context = await browser.newContext({ extraHTTPHeaders: { ...run.o.headers } });
    if (run.o.cookies.length > 0)
      await context.addCookies(
        run.o.cookies.map((c) => {
          const eq = c.indexOf('=');
          return { name: c.slice(0, eq), value: c.slice(eq + 1), url: run.o.start.origin };
        }),
      );
    const page = await context.newPage();
    page.setDefaultTimeout(run.o.timeoutMs);
    let last: import('playwright-core').Response | null = null;
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (run.appOrigins.has(u.origin))
        run.scanner.add('authorization code', u.searchParams.get('code') ?? undefined);
    });
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) last = r;
    });
    run.step = 'Chromium: opening the start URL';
    await page.goto(run.o.start.toString());
    await page.waitForURL((u) => u.origin === run.authorizeUrl.origin);
    const consentUrl = new URL(page.url());
    if (consentUrl.searchParams.get('client_id') !== run.clientId)
      return failed(`in Chromium, the consent page was opened for another client_id than '${run.clientId}'`);
    run.step = 'Chromium: signing in on the consent page';
    await page.fill('input[name="email"]', project.email);
    await page.fill('input[name="password"]', project.password);
    await page.click('button[type="submit"]');
    await page.waitForSelector('form[action="/oauth/decide"]');
    await page.check(`input[name="project_code"][value="${project.code}"]`);
    run.step = 'Chromium: allowing access';
    await Promise.all([
      page.waitForURL((u) => run.appOrigins.has(u.origin), { waitUntil: 'load' }),
      page.click('button[value="approve"]'),
    ]);
    await page.waitForLoadState('load');
    const url = new URL(page.url());
    const body = await page.content();
    const response = last as import('playwright-core').Response | null;
    const headers = response ? await response.allHeaders() : {};
    const status = response?.status() ?? 0;
    run.captured.push({
      where: `GET ${url.pathname} (in Chromium)`,
      status,
      headers: Object.entries(headers),
      body,
    });
    const answer: Answer = {
      kind: 'answer',
      status,
      url,
      body,
      headers: new Headers(headers),
      leftTo: undefined,
      chain: [url.pathname],
    };
    const claimed = claimsSuccess(answer, run.o.success);
    return {
      ok: claimed,
      project,
      agent: run.agent(),
      state: consentUrl.searchParams.get('state') ?? '',
      answer,
      claimed,
      evidence: claimed
        ? ''
        : `in Chromium, the callback ${describeAnswer(answer)}, which does not read as success`,
    };
  } catch (e) {
    if (run.signal.aborted) throw new CheckAborted();
    return failed(`in Chromium, ${run.step.replace(/^Chromium: /, '')} failed: ${safeMessage(e)}`);
  } finally {
    run.signal.removeEventListener('abort', stop);
    await browser.close().catch(() => {});
  }
}
