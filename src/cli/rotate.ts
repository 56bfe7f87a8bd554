// `noon-connect rotate <connection-id>`: a new key for a connection, make-before-break (the new key is stored
// and in use before the old one is removed through Noon's API User Service).

import { connectionJson } from '../service/views.js';
import { parseOptions, reportError, withContext } from './context.js';
import { EXIT, type Io } from './io.js';

export const ROTATE_USAGE = `Usage: noon-connect rotate <connection-id> [--json]

Rotates a connection's key: checks for a free key slot on the seller's service
account, creates and stores the new key, switches to it, then removes the old
one. Reads the same environment variables as serve; calls Noon.

Options:
  --json       Print the connection afterwards as JSON (the REST API's shape,
               with previous_key_id)
  -h, --help   Show this help

Exit codes: 0 rotated, 2 bad usage, 3 configuration refused, 4 no such connection,
1 failure (inactive connection, no free key slot, Noon unavailable).`;

export async function rotateCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'rotate',
    argv,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    ROTATE_USAGE,
    io,
    true,
  );
  if (!parsed) return EXIT.USAGE;
  if (parsed.values.help) {
    io.out(ROTATE_USAGE);
    return EXIT.OK;
  }
  if (parsed.positionals.length !== 1) {
    io.err(`noon-connect rotate: give exactly one connection id\n\n${ROTATE_USAGE}`);
    return EXIT.USAGE;
  }
  const id = parsed.positionals[0]!;
  try {
    const { before, after, row } = await withContext({ connector: true }, async ({ connector, store }) => {
      const before = await connector!.getConnection(id);
      const after = await connector!.rotate(id);
      return { before, after, row: await store.getConnection(id) };
    });
    if (parsed.values.json) {
      io.out(
        JSON.stringify({ ...connectionJson(row ?? after), previous_key_id: before?.keyId ?? null }, null, 2),
      );
    } else {
      io.out(
        `rotated ${after.id} (${after.tenant}/${after.sellerProject}): key ${before?.keyId ?? '-'} → ${after.keyId}`,
      );
    }
    return EXIT.OK;
  } catch (e) {
    return reportError('rotate', e, io);
  }
}
