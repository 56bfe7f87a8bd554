// The report three ways: the object itself (the --json output), a terminal report (colour only when asked,
// i.e. on a TTY), and JUnit XML for CI (one testsuite per check, one testcase per case; WARN passes with a note).

import type { CaseResult, CheckReport, CheckResult, Outcome } from './types.js';

const RANK: Record<Outcome, number> = { SKIP: 0, PASS: 1, WARN: 2, FAIL: 3 };

/** The outcome that decides: FAIL over WARN over PASS; SKIP only when every case was skipped. */
export function worst(cases: readonly CaseResult[]): CaseResult | undefined {
  let w: CaseResult | undefined;
  for (const c of cases) if (!w || RANK[c.outcome] > RANK[w.outcome]) w = c;
  return w;
}

export function summarize(checks: readonly CheckResult[]): CheckReport['summary'] {
  const s = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const c of checks) s[c.outcome.toLowerCase() as keyof typeof s]++;
  return s;
}

const COLOURS: Record<Outcome, string> = { PASS: '32', FAIL: '31', WARN: '33', SKIP: '90' };

export function renderText(r: CheckReport, o: { colour: boolean }): string[] {
  const paint = (outcome: Outcome, text: string) =>
    o.colour ? `\x1b[${COLOURS[outcome]}m${text}\x1b[0m` : text;
  const dim = (text: string) => (o.colour ? `\x1b[2m${text}\x1b[0m` : text);
  const lines = [`noon-connect check  ${r.app.start}  (sandbox ${r.sandbox.url})`, ''];
  if (r.error) lines.push(`${paint('FAIL', 'FAIL')}  ${r.error}`, '');
  for (const c of r.checks) {
    lines.push(`${paint(c.outcome, c.outcome.padEnd(4))}  ${c.id}  ${c.title}  ${dim(`[${c.checklist}]`)}`);
    for (const k of c.cases)
      lines.push(`      ${paint(k.outcome, k.outcome.padEnd(4))} ${k.id}: ${k.evidence}`);
  }
  const s = r.summary;
  lines.push(
    '',
    `${r.checks.length} checks: ${s.pass} passed, ${s.fail} failed, ${s.warn} with warnings, ${s.skip} skipped in ${(r.durationMs / 1000).toFixed(1)} s${r.ok ? '' : ' — NOT READY'}`,
  );
  return lines;
}

/** XML 1.0 text: markup characters escaped, characters XML cannot hold dropped. */
function xml(s: string): string {
  return s
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function testcase(check: string, k: CaseResult): string {
  const open = `    <testcase name="${xml(k.id)}" classname="noon-connect.check.${xml(check)}" time="${seconds(k.durationMs)}">`;
  switch (k.outcome) {
    case 'FAIL':
      return `${open}\n      <failure type="FAIL" message="${xml(k.evidence)}">${xml(`${k.title}: ${k.evidence}`)}</failure>\n    </testcase>`;
    case 'SKIP':
      return `${open}\n      <skipped message="${xml(k.evidence)}"/>\n    </testcase>`;
    default:
      return `${open}\n      <system-out>${xml(`${k.outcome}: ${k.title}: ${k.evidence}`)}</system-out>\n    </testcase>`;
  }
}

export function renderJunit(r: CheckReport): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let skipped = 0;
  if (r.error) {
    tests++;
    failures++;
    suites.push(
      `  <testsuite name="run" tests="1" failures="1" skipped="0" time="0.000">\n    <testcase name="run.start" classname="noon-connect.check.run" time="0.000">\n      <failure type="FAIL" message="${xml(r.error)}">${xml(r.error)}</failure>\n    </testcase>\n  </testsuite>`,
    );
  }
  for (const c of r.checks) {
    const f = c.cases.filter((k) => k.outcome === 'FAIL').length;
    const s = c.cases.filter((k) => k.outcome === 'SKIP').length;
    tests += c.cases.length;
    failures += f;
    skipped += s;
    suites.push(
      [
        `  <testsuite name="${xml(c.id)}" tests="${c.cases.length}" failures="${f}" skipped="${s}" time="${seconds(c.durationMs)}">`,
        `    <properties><property name="checklist" value="${xml(c.checklist)}"/><property name="title" value="${xml(c.title)}"/></properties>`,
        ...c.cases.map((k) => testcase(c.id, k)),
        '  </testsuite>',
      ].join('\n'),
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="noon-connect check" tests="${tests}" failures="${failures}" skipped="${skipped}" time="${seconds(r.durationMs)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
