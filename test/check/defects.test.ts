// `noon-connect check` against reference applications with one deliberate mistake each (two in Python, the rest
// in TypeScript, none using this package): each fails exactly the check for its mistake, with evidence that names
// it, and passes every other check.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckId } from '../../src/check/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import {
  type CheckRun,
  checkSandbox,
  inParallel,
  notPassing,
  runChecks,
  startReferenceApp,
} from './helpers.js';

interface Defect {
  lang: 'py' | 'ts';
  defect: string;
  check: CheckId;
  /** The failing case and what its evidence must say. */
  failing: Record<string, RegExp>;
}

const DEFECTS: Defect[] = [
  {
    lang: 'py',
    defect: 'no-state-check',
    check: 'state',
    failing: {
      'state.missing': /no state, the application (still called token\/create|got a new credential)/,
      'state.forged': /forged state, the application (still called token\/create|got a new credential)/,
      'state.other-browser': /another browser .*(still called token\/create|got a new credential)/,
      'state.replayed':
        /state of a finished connect, the application (still called token\/create|got a new credential)/,
    },
  },
  {
    lang: 'py',
    defect: 'crash-on-5xx',
    check: 'errors',
    failing: {
      'errors.create-503':
        /token\/create answering 503, the application closed the connection without an answer/,
      'errors.exchange-500':
        /token\/exchange answering 500, the application closed the connection without an answer/,
    },
  },
  {
    lang: 'py',
    defect: 'key-in-log',
    check: 'secrets',
    failing: { 'secrets.log': /^private key reached the log: the private key in .*app\.log line \d+/ },
  },
  {
    lang: 'ts',
    defect: 'state-reuse',
    check: 'state',
    failing: {
      'state.replayed':
        /new code under the state of a finished connect, the application (still called token\/create|got a new credential)/,
    },
  },
  {
    lang: 'ts',
    defect: 'code-replay',
    check: 'code-once',
    failing: {
      'code-once.same-callback': /same callback a second time, the application still called token\/create/,
    },
  },
  {
    lang: 'ts',
    defect: 'claims-success',
    check: 'errors',
    failing: {
      'errors.exchange-status': /status\.code 9 .*reads as success, though no credential was delivered/,
      // Without status.code it cannot tell a truncated answer from a good one either.
      'errors.exchange-malformed': /truncated JSON, .*reads as success, though no credential was delivered/,
    },
  },
  {
    lang: 'ts',
    defect: 'secret-in-redirect',
    check: 'secrets',
    failing: {
      'secrets.browser': /client secret in the location header of the answer to GET \/connect\/start/,
    },
  },
  {
    lang: 'ts',
    defect: 'no-session',
    check: 'happy-path',
    failing: {
      'happy-path.session':
        /token\/create and token\/exchange went without the integrator session cookie \(_npsid\)/,
    },
  },
  {
    lang: 'ts',
    defect: 'no-user-agent',
    check: 'happy-path',
    failing: {
      'happy-path.user-agent':
        /token\/create, token\/exchange and the login with the new key had no User-Agent/,
    },
  },
];

let sb: Sandbox;
const runs = new Map<string, CheckRun>();

beforeAll(async () => {
  sb = await checkSandbox(48);
  await inParallel(DEFECTS, 3, async (d) => {
    const app = await startReferenceApp(sb, d.lang, d.defect);
    try {
      runs.set(d.defect, await runChecks(sb, app));
    } finally {
      await app.stop();
    }
  });
}, 300_000);

afterAll(async () => {
  await sb?.close();
});

describe.each(DEFECTS)('$lang application with the defect $defect', (d) => {
  it(`fails the ${d.check} check and only that one, and exits 1`, () => {
    const r = runs.get(d.defect)!;
    const failed = r.report.checks.filter((c) => c.outcome !== 'PASS').map((c) => `${c.id} ${c.outcome}`);
    expect(failed, notPassing(r.report).join('\n')).toEqual([`${d.check} FAIL`]);
    expect(r.report.ok).toBe(false);
    expect(r.code).toBe(1);
  });

  it('names the defect in the evidence of exactly the failing cases', () => {
    const r = runs.get(d.defect)!;
    const check = r.report.checks.find((c) => c.id === d.check)!;
    const failing = Object.fromEntries(
      check.cases.filter((k) => k.outcome !== 'PASS').map((k) => [k.id, k.evidence]),
    );
    expect(Object.keys(failing).sort()).toEqual(Object.keys(d.failing).sort());
    for (const [id, re] of Object.entries(d.failing)) expect(failing[id], id).toMatch(re);
    expect(check.evidence).toBe(Object.values(failing)[0]);
  });
});
