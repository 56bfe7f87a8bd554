// `noon-connect check` against applications that do everything right: the correct reference applications in
// Python and TypeScript (written without this package), and an application built on this package's own connector
// through its public API. Each passes every check, with the login check and its log searched too.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_IDS } from '../../src/check/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import {
  type AppUnderCheck,
  type CheckRun,
  checkSandbox,
  inParallel,
  notPassing,
  runChecks,
  startConnectorApp,
  startReferenceApp,
} from './helpers.js';

const APPS: Record<string, (sb: Sandbox) => Promise<AppUnderCheck>> = {
  'the Python reference application': (sb) => startReferenceApp(sb, 'py'),
  'the TypeScript reference application': (sb) => startReferenceApp(sb, 'ts'),
  "an application on this package's connector": (sb) => startConnectorApp(sb),
};

let sb: Sandbox;
const runs = new Map<string, CheckRun>();

beforeAll(async () => {
  sb = await checkSandbox(18);
  await inParallel(Object.entries(APPS), 2, async ([name, start]) => {
    const app = await start(sb);
    try {
      runs.set(name, await runChecks(sb, app));
    } finally {
      await app.stop();
    }
  });
}, 240_000);

afterAll(async () => {
  await sb?.close();
});

describe.each(Object.keys(APPS))('%s', (name) => {
  it('passes every check, with nothing failed, warned or skipped, and exits 0', () => {
    const r = runs.get(name)!;
    expect(notPassing(r.report)).toEqual([]);
    expect(r.report.checks.map((c) => c.id)).toEqual([...CHECK_IDS]);
    expect(r.report.ok).toBe(true);
    expect(r.report.error).toBeNull();
    expect(r.code).toBe(0);
  });

  it('was really exercised: a credential delivered, its key logged in with, and the log read', () => {
    const { report } = runs.get(name)!;
    const evidence = (id: string) => report.checks.flatMap((c) => c.cases).find((k) => k.id === id)?.evidence;
    expect(evidence('happy-path.flow')).toMatch(
      /token\/create 200; token\/exchange 200; 1 credential delivered/,
    );
    expect(evidence('login.new-key')).toMatch(/logged in with the new key [0-9a-f]{32}/);
    expect(evidence('secrets.log')).toMatch(/^[1-9]\d* log lines hold no/);
    expect(evidence('errors.exchange-reset')).toMatch(/issued but not delivered|1 credential delivered/);
  });
});
