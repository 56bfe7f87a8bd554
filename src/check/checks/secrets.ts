// secrets: the client secret is never exposed to clients; access tokens are never logged; the private key is
// kept secret. Runs last: every answer the application gave the browser during the whole run (status, headers,
// pages, redirects) and its log, read now, are searched for the client secret, the codes the checker minted,
// access tokens and login JWTs, and private-key material.

import { type Cases, type CheckDef, fail, pass, skip, type Verdict } from '../cases.js';
import type { Finding } from '../secret-scan.js';

/** "the client secret in the Location header of GET /connect/start" for the first few findings, deduplicated. */
function listed(findings: Finding[]): string {
  const seen = new Map<string, number>();
  for (const f of findings) {
    const k = `the ${f.kind} in ${f.where}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  const items = [...seen.entries()].map(([k, n]) => (n > 1 ? `${k} (${n} times)` : k));
  return items.length > 3
    ? `${items.slice(0, 3).join('; ')}; and ${items.length - 3} more`
    : items.join('; ');
}

function verdict(findings: Finding[], where: string, clean: string): Verdict {
  if (findings.length === 0) return pass(clean);
  const kinds = [...new Set(findings.map((f) => f.kind))];
  return fail(`${kinds.join(', ')} reached ${where}: ${listed(findings)}`);
}

export const secretsCheck: CheckDef = {
  id: 'secrets',
  title: 'Secrets stay secret',
  checklist:
    'The client secret is never exposed to clients; access tokens are never logged; the private key is kept secret',
  async run(cases: Cases) {
    const { run } = cases;
    // At least one whole connect should have been seen, so there is something to search.
    await run.connected().catch(() => undefined);
    await cases.case('secrets.browser', 'Nothing secret in any answer to the browser', async () => {
      if (run.captured.length === 0) return skip('nothing to search: the application answered nothing');
      const findings: Finding[] = [];
      for (const c of run.captured) {
        for (const [name, value] of c.headers)
          findings.push(...run.scanner.scan(value, `the ${name} header of the answer to ${c.where}`));
        findings.push(...run.scanner.scan(c.body, `the page answering ${c.where}`));
      }
      return verdict(
        findings,
        'the browser',
        `${run.captured.length} answers of the application (headers, redirects and pages) hold no client secret, code, access token or private key`,
      );
    });
    await cases.case('secrets.log', "Nothing secret in the application's log", async () => {
      if (run.logs.length === 0)
        return skip('no log to read (give --log <file>, or start the application with --exec)');
      const findings: Finding[] = [];
      let lines = 0;
      for (const log of run.logs) {
        const text = await log.read();
        text.split('\n').forEach((line, i) => {
          if (line.trim() === '') return;
          lines++;
          findings.push(...run.scanner.scan(line, `${log.name} line ${i + 1}`));
        });
        // A key split over lines is found only in the whole text.
        if (!findings.some((f) => f.kind === 'private key'))
          findings.push(...run.scanner.scan(text, log.name).filter((f) => f.kind === 'private key'));
      }
      if (lines === 0) return skip('nothing to search: the log is empty');
      return verdict(
        findings,
        'the log',
        `${lines} log lines hold no client secret, code, access token or private key`,
      );
    });
  },
};
