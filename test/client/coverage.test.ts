// Every contract rule and checklist case the client is responsible for has a client test whose title names it,
// and the client imports nothing from elsewhere in src/ (it must work without the sandbox).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLIENT_IDS = [
  'NC2',
  'NC3',
  'NC5',
  'NC6',
  'NC7',
  'NC9',
  'NC11',
  'NC12',
  'NC13',
  'NC16',
  'NC23',
  'NC24',
  'NC25',
  'NC26',
  'NC29',
  'NC30',
  'NC32',
  'NC33',
  'NC34',
  'NC35',
  'NC37',
  'NC38',
  'NC39',
  'U1',
  'U2',
  'U3',
  'U4',
  'U5',
  'U7',
  'U11',
  'K8',
];

/** Ids in the first string argument of it()/test()/describe() calls (the same rule the contract check uses). */
function idsInTitles(dir: string): Set<string> {
  const ids = new Set<string>();
  const title = /\b(?:it|test|describe)(?:\.\w+)*\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.test.ts'))) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(title))
      for (const id of m[2]!.matchAll(/\b(NC\d+|[A-Z]\d+b?)\b/g)) ids.add(id[1]!);
  }
  return ids;
}

describe('client coverage', () => {
  it('every contract and checklist id the client touches is named by a client test title', () => {
    const ids = idsInTitles(join('test', 'client'));
    expect(CLIENT_IDS.filter((id) => !ids.has(id))).toEqual([]);
  });

  it('src/client imports only its own modules, node: built-ins, undici and jose', () => {
    const dir = join('src', 'client');
    const bad: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/\bfrom\s+'([^']+)'/g)) {
        const spec = m[1]!;
        const ok =
          /^\.\/[\w-]+\.js$/.test(spec) || spec.startsWith('node:') || spec === 'undici' || spec === 'jose';
        if (!ok) bad.push(`${f}: ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
