// `noon-connect reconcile`: one reconciler pass now (the service also runs it on start and periodically; a pass
// is safe alongside another, in this process or another instance).

import { parseOptions, reportError, withContext } from './context.js';
import { EXIT, type Io } from './io.js';

export const RECONCILE_USAGE = `Usage: noon-connect reconcile [--json]

Runs one reconciler pass: fails connect attempts left past their expiry, resumes
exchanges that can still finish, takes over stuck exchanges through the orphan
path and repairs orphans, and removes keys left retiring. Prints the report.
Reads the same environment variables as serve; calls Noon.

Options:
  --json       Print the report as JSON
  -h, --help   Show this help

Exit codes: 0 ok, 2 bad usage, 3 configuration refused, 1 failure.`;

export async function reconcileCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'reconcile',
    argv,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    RECONCILE_USAGE,
    io,
  );
  if (!parsed) return EXIT.USAGE;
  if (parsed.values.help) {
    io.out(RECONCILE_USAGE);
    return EXIT.OK;
  }
  try {
    const report = await withContext({ connector: true }, ({ connector }) => connector!.reconcile());
    if (parsed.values.json) io.out(JSON.stringify(report, null, 2));
    else {
      io.out('reconciler pass done');
      for (const [k, v] of Object.entries(report)) io.out(`  ${k.padEnd(16)}${v}`);
    }
    return EXIT.OK;
  } catch (e) {
    return reportError('reconcile', e, io);
  }
}
