// `noon-connect check --browser`: the happy path once more in a real Chromium, through the sandbox's consent page
// (sign-in, project choice, Allow) and back to the application, judged like the HTTP run.

import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { browserTestsEnabled, CHROMIUM_PATH, requireChromium } from '../helpers/browser.js';
import { checkSandbox, notPassing, runChecks, startReferenceApp } from './helpers.js';

const enabled = browserTestsEnabled();
let sb: Sandbox;

beforeAll(async () => {
  if (enabled) requireChromium();
  sb = await checkSandbox(3);
});

afterAll(async () => {
  await sb?.close();
});

it.runIf(enabled)(
  'a correct application passes the happy path in Chromium too',
  async () => {
    const app = await startReferenceApp(sb, 'py');
    try {
      const r = await runChecks(sb, app, ['--only', 'happy-path', '--browser', '--chromium', CHROMIUM_PATH]);
      expect(notPassing(r.report)).toEqual([]);
      const browser = r.report.checks[0]!.cases.find((k) => k.id === 'happy-path.browser')!;
      expect(browser.evidence).toMatch(
        /^the callback answered 200 at \/connect\/done \(“Connected”\); sandbox: token\/create 200; token\/exchange 200; 1 credential delivered$/,
      );
      expect(r.code).toBe(0);
    } finally {
      await app.stop();
    }
  },
  90_000,
);
