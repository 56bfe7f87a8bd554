// The outputs and edges of `noon-connect check`: the documented --json shape, JUnit XML read back by a real XML
// parser, --only/--skip, a run that starts its own sandbox and the application (--exec) and prints what to
// configure, a hanging application ending by itself under per-check deadlines, an application that never listens,
// and bad usage.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckReport, renderText } from '../../src/check/index.js';
import { checkCommand } from '../../src/cli/check.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { freePort } from '../helpers/net.js';
import { KEY_CACHE_DIR } from '../helpers/sandbox.js';
import { tempDir } from '../helpers/stores.js';
import {
  APP_TIMEOUT_MS,
  type CheckRun,
  checkSandbox,
  runChecks,
  startHangingApp,
  startReferenceApp,
} from './helpers.js';
import { parseJunit } from './junit.js';

let sb: Sandbox;
let selectedRun: CheckRun;
let junitXml: string;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await checkCommand(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  sb = await checkSandbox(10);
  const app = await startReferenceApp(sb, 'ts');
  const junit = join(tempDir('nc-junit-'), 'check.xml');
  try {
    selectedRun = await runChecks(sb, app, [
      '--only',
      'happy-path,state.forged,https',
      '--skip',
      'happy-path.user-agent',
      '--junit',
      junit,
    ]);
  } finally {
    await app.stop();
  }
  junitXml = readFileSync(junit, 'utf8');
}, 120_000);

afterAll(async () => {
  await sb?.close();
});

describe('--json', () => {
  it('has the documented shape: report, checks and cases with exactly these fields and types', () => {
    const r = selectedRun.report;
    expect(Object.keys(r).sort()).toEqual(
      ['app', 'checks', 'durationMs', 'error', 'ok', 'sandbox', 'schema', 'startedAt', 'summary'].sort(),
    );
    expect(r.schema).toBe('noon-connect.check/v1');
    expect(new Date(r.startedAt).toISOString()).toBe(r.startedAt);
    expect(r.durationMs).toBeGreaterThan(0);
    expect(r.app).toEqual({
      start: expect.stringMatching(/\/connect\/start$/),
      callback: expect.stringMatching(/\/connect\/callback$/),
    });
    expect(r.sandbox).toEqual({ url: sb.url, started: false });
    expect(r.summary).toEqual({ pass: 3, fail: 0, warn: 0, skip: 0 });
    expect(r.ok).toBe(true);
    expect(r.error).toBeNull();
    for (const c of r.checks) {
      expect(Object.keys(c).sort()).toEqual(
        ['cases', 'checklist', 'durationMs', 'evidence', 'id', 'outcome', 'title'].sort(),
      );
      expect(['PASS', 'FAIL', 'WARN', 'SKIP']).toContain(c.outcome);
      expect(typeof c.checklist).toBe('string');
      for (const k of c.cases) {
        expect(Object.keys(k).sort()).toEqual(['durationMs', 'evidence', 'id', 'outcome', 'title'].sort());
        expect(k.id.startsWith(`${c.id}.`)).toBe(true);
        expect(Number.isInteger(k.durationMs)).toBe(true);
        expect(k.evidence.length).toBeGreaterThan(10);
      }
    }
  });

  it('--only and --skip select checks and cases by id', () => {
    const r = selectedRun.report;
    expect(r.checks.map((c) => [c.id, c.cases.map((k) => k.id)])).toEqual([
      ['happy-path', ['happy-path.flow', 'happy-path.session']],
      ['state', ['state.forged']],
      ['https', ['https.urls']],
    ]);
  });

  it('keeps stdout to the JSON: the configuration and progress go to stderr', () => {
    expect(() => JSON.parse(selectedRun.out)).not.toThrow();
    expect(selectedRun.err).toMatch(/Configure the application with:/);
    expect(selectedRun.err).toMatch(/ {2}happy-path: PASS/);
  });
});

describe('--junit', () => {
  it('writes well-formed JUnit XML: one testsuite per check, one testcase per case, counts that add up', () => {
    const j = parseJunit(junitXml);
    const r = selectedRun.report;
    expect(j.root).toBe('testsuites');
    expect(j.attrs).toMatchObject({ name: 'noon-connect check', tests: '4', failures: '0', skipped: '0' });
    expect(j.suites.map((s) => s.attrs.name)).toEqual(r.checks.map((c) => c.id));
    for (const [i, s] of j.suites.entries()) {
      const c = r.checks[i]!;
      expect(s.attrs.tests).toBe(String(c.cases.length));
      expect(s.properties.checklist).toBe(c.checklist);
      expect(s.cases.map((k) => k.name)).toEqual(c.cases.map((k) => k.id));
      for (const [n, k] of s.cases.entries()) {
        expect(k.classname).toBe(`noon-connect.check.${c.id}`);
        expect(k.failure).toBeNull();
        expect(k.out).toBe(`PASS: ${c.cases[n]!.title}: ${c.cases[n]!.evidence}`);
        expect(Number(k.time)).toBeGreaterThanOrEqual(0);
      }
    }
  });
});

describe('a hanging application', () => {
  let run: CheckRun;
  beforeAll(async () => {
    const app = await startHangingApp(sb);
    try {
      const started = Date.now();
      run = await runChecks(sb, app, ['--timeout', '700', '--check-timeout', '2000', '--skip', 'login']);
      // Not a timing assertion on the checker: a guard that the run ended by itself, not by the test's timeout.
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      await app.stop();
    }
  }, 90_000);

  it('ends with a report: every check failed, warned or had nothing to judge; only the static https check passed', () => {
    const failing = run.report.checks.filter((c) => c.outcome === 'FAIL').map((c) => c.id);
    expect(failing).toEqual(expect.arrayContaining(['happy-path', 'state', 'errors', 'immediacy']));
    expect(run.report.checks.filter((c) => c.outcome === 'PASS').map((c) => c.id)).toEqual(['https']);
    expect(run.code).toBe(1);
  });

  it('says plainly that the application did not answer, and names the deadline of a check cut short', () => {
    const flow = run.report.checks[0]!.cases.find((k) => k.id === 'happy-path.flow')!;
    expect(flow.evidence).toMatch(/GET \/connect\/start did not answer in time \(0\.7 s\)/);
    const cut = run.report.checks.flatMap((c) => c.cases).filter((k) => k.id.endsWith('.deadline'));
    expect(cut.length).toBeGreaterThan(0);
    for (const k of cut) expect(k.evidence).toMatch(/^the check did not finish within 2 s \(it was .+\)$/);
    expect(cut.map((k) => k.evidence)).toContain(
      'the check did not finish within 2 s (it was GET /connect/start)',
    );
  });
});

it('an application that never accepts connections: the run ends with an error and no checks', async () => {
  const port = await freePort();
  const client = sb.addClient({
    client_id: `nobody-${port}`,
    redirect_uris: [`http://127.0.0.1:${port}/connect/callback`],
  });
  const r = await cli([
    '--start',
    `http://127.0.0.1:${port}/connect/start`,
    '--sandbox',
    sb.url,
    '--client-id',
    client.clientId,
    '--wait',
    '600',
    '--json',
  ]);
  const report = JSON.parse(r.out) as CheckReport;
  expect(report.error).toBe(
    `the application did not accept connections at http://127.0.0.1:${port} within 0.6 s`,
  );
  expect(report.checks).toEqual([]);
  expect(report.ok).toBe(false);
  expect(r.code).toBe(1);
});

it('starts its own sandbox, prints the configuration, starts the application with --exec and reads its output as the log', async () => {
  const port = await freePort();
  const app = join(process.cwd(), 'test', 'check', 'apps', 'reference_app.py');
  const r = await cli([
    '--start',
    `http://127.0.0.1:${port}/connect/start`,
    '--sandbox-port',
    '0',
    '--key-cache',
    KEY_CACHE_DIR,
    '--exec',
    `PORT=${port} APP_TIMEOUT_MS=${APP_TIMEOUT_MS} exec python3 ${app}`,
    '--only',
    'happy-path.flow,secrets',
    '--color',
    'never',
  ]);
  expect(r.err).not.toMatch(/FAIL/);
  expect(r.code).toBe(0);
  const lines = r.out.split('\n');
  for (const label of [
    'consent URL (authorize): http://127.0.0.1:',
    'gateway URL:             http://127.0.0.1:',
    'client id:               noon-connect-check',
    'client secret:           ',
    'integrator key file:     /',
    `callback to register:    http://127.0.0.1:${port}/connect/callback`,
    'NOON_CLIENT_ID=noon-connect-check',
    `NOON_REDIRECT_URI=http://127.0.0.1:${port}/connect/callback`,
  ])
    expect(
      lines.some((l) => l.trim().startsWith(label.trim())),
      label,
    ).toBe(true);
  expect(r.out).toMatch(/^PASS {2}happy-path {2}A seller connects/m);
  expect(r.out).toMatch(/PASS secrets\.log: [1-9]\d* log lines hold no/);
  expect(r.out).toMatch(/^2 checks: 2 passed, 0 failed, 0 with warnings, 0 skipped in /m);
  expect(r.out).not.toContain('\x1b[');
});

describe('the terminal report', () => {
  it('is coloured only when asked', () => {
    const plain = renderText(selectedRun.report, { colour: false }).join('\n');
    const coloured = renderText(selectedRun.report, { colour: true }).join('\n');
    expect(plain).not.toContain('\x1b[');
    expect(coloured).toContain('\x1b[32mPASS');
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain);
  });
});

describe('bad usage exits 2 with the usage text', () => {
  it.each([
    [[], /--start <url> is required/],
    [['--start', 'http://127.0.0.1:1/s', '--only', 'nope'], /unknown check 'nope'/],
    [['--start', 'ftp://x/s'], /start must be http or https/],
    [
      ['--start', 'http://127.0.0.1:1/s', '--success-body', '('],
      /--success-body is not a valid regular expression/,
    ],
    [['--start', 'http://127.0.0.1:1/s', '--success-status', 'ok'], /success status must be/],
    [['--start', 'http://127.0.0.1:1/s', '--header', 'nocolon'], /--header must be 'Name: value'/],
    [['--start', 'http://127.0.0.1:1/s', '--color', 'pink'], /--color must be auto, always or never/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j', async (args, message) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/Usage: noon-connect check --start <url>/);
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /Checks: happy-path, state, code-once, errors, token-expiry, immediacy, https, login, secrets/,
    );
  });
});
