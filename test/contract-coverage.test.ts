// Every contract rule the project implements has a test whose title names its id (NC1…, E1…, S1…), and every
// rule id cited anywhere in the project resolves to a heading of its reference documents (docs/reference/).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Ids named in test titles: the first string argument of it()/test()/describe(). */
function idsInTitles(): Set<string> {
  const ids = new Set<string>();
  const title = /\b(?:it|test|describe)(?:\.\w+)*\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g;
  for (const f of files('test')) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(title))
      for (const id of m[2]!.matchAll(/\b(NC\d+|[A-Z]\d+[ab]?)\b/g)) ids.add(id[1]!);
  }
  return ids;
}

const CONTRACT = join('docs', 'reference', 'noon-contract.md');
const CHECKLIST = join('docs', 'reference', 'reliability-checklist.md');
/** The rule ids a reference document defines: one `#### ID` heading each. */
function headings(path: string): Set<string> {
  return new Set([...readFileSync(path, 'utf8').matchAll(/^#### (\S+)\s*$/gm)].map((m) => m[1]!));
}
/** What a citation of a rule id looks like in code, tests and docs. */
const CITED = /\b(NC\d+|[SCUPKELH]\d+[ab]?)\b/g;
function textFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return textFiles(p);
    return /\.(ts|js|md|py|go|php|java|json)$/.test(n) ? [p] : [];
  });
}

/** Every contract id. */
const CONTRACT_IDS = Array.from({ length: 41 }, (_, i) => `NC${i + 1}`);
/**
 * Contract ids the sandbox implements: all but NC2, which is about Noon's own static sandbox host and is a
 * client concern (the client refuses an exchange there).
 */
const SANDBOX_CONTRACT_IDS = CONTRACT_IDS.filter((id) => id !== 'NC2');
const SANDBOX_CHECKLIST_IDS = ['E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7', 'E8', 'E9'];
const range = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i + 1}`);
/** Checklist ids the client, connector and service implement, the load cases L1–L4 included. */
const CHECKLIST_IDS = [
  ...range('S', 9),
  ...range('C', 8),
  ...range('U', 12),
  'U9b',
  'P1',
  'P2a',
  'P2b',
  ...range('P', 7).filter((id) => id !== 'P2'),
  ...range('K', 8),
  ...range('L', 4),
  ...range('H', 8),
];

describe('coverage of contract and checklist ids', () => {
  const ids = idsInTitles();
  it('every contract id the sandbox implements has a test naming it', () => {
    const missing = SANDBOX_CONTRACT_IDS.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
  });
  it('every sandbox checklist id (E1–E9) has a test naming it', () => {
    const missing = SANDBOX_CHECKLIST_IDS.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
  });
  it('every checklist id of the client, connector and service has a test naming it', () => {
    const missing = CHECKLIST_IDS.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
  });
  it('the contract document still defines exactly the ids listed here', () => {
    expect([...headings(CONTRACT)].sort()).toEqual([...CONTRACT_IDS].sort());
  });
  it('the checklist document defines every checklist id listed here', () => {
    const defined = headings(CHECKLIST);
    const missing = [...SANDBOX_CHECKLIST_IDS, ...CHECKLIST_IDS].filter((id) => !defined.has(id));
    expect(missing).toEqual([]);
  });
  it('every rule id cited in src/, test/, bench/ and docs/ resolves to a heading of docs/reference/', () => {
    const defined = new Set([...headings(CONTRACT), ...headings(CHECKLIST)]);
    const unresolved: string[] = [];
    for (const f of [
      'README.md',
      ...textFiles('src'),
      ...textFiles('test'),
      ...textFiles('bench'),
      ...textFiles('docs'),
    ]) {
      // Percent-escapes (%E0) and hex are not rule ids.
      const text = readFileSync(f, 'utf8').replace(/%[0-9A-F]{2}/g, '');
      for (const m of text.matchAll(CITED)) {
        const id = m[1]!;
        // "P2" names the pair P2a/P2b.
        if (!defined.has(id) && !(id === 'P2' && defined.has('P2a'))) unresolved.push(`${f}: ${id}`);
      }
    }
    expect(unresolved).toEqual([]);
  });
  it('no file of the project reads or links anything outside the repository', () => {
    // A user's clone has nothing beside it: a path that climbs out of the repository root cannot resolve.
    const outside = /(?:\.\.\/)+shared\/|['"]\.\.['"],\s*['"]shared['"]|\/work\/shared/;
    const offenders = [
      'README.md',
      'package.json',
      ...textFiles('src'),
      ...textFiles('test'),
      ...textFiles('bench'),
      ...textFiles('docs'),
      ...textFiles('bin'),
    ].filter((f) => f !== join('test', 'contract-coverage.test.ts') && outside.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
