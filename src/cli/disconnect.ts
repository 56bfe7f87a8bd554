// `noon-connect disconnect <connection-id>`: removes the connection's keys at Noon (API User Service), then marks
// it disconnected; the seller must connect again to use it.

import { connectionJson } from '../service/views.js';
import { parseOptions, reportError, withContext } from './context.js';
import { EXIT, type Io } from './io.js';

export const DISCONNECT_USAGE = `Usage: noon-connect disconnect <connection-id> [--json]

Removes every key the connection holds from the seller's service account at
Noon, then marks the connection disconnected. Reads the same environment
variables as serve; calls Noon.

Options:
  --json       Print the connection afterwards as JSON (the REST API's shape)
  -h, --help   Show this help

Exit codes: 0 disconnected, 2 bad usage, 3 configuration refused, 4 no such
connection, 1 failure (Noon unavailable).`;

export async function disconnectCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'disconnect',
    argv,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    DISCONNECT_USAGE,
    io,
    true,
  );
  if (!parsed) return EXIT.USAGE;
  if (parsed.values.help) {
    io.out(DISCONNECT_USAGE);
    return EXIT.OK;
  }
  if (parsed.positionals.length !== 1) {
    io.err(`noon-connect disconnect: give exactly one connection id\n\n${DISCONNECT_USAGE}`);
    return EXIT.USAGE;
  }
  const id = parsed.positionals[0]!;
  try {
    const { view, row } = await withContext({ connector: true }, async ({ connector, store }) => {
      const view = await connector!.disconnect(id);
      return { view, row: await store.getConnection(id) };
    });
    if (parsed.values.json) io.out(JSON.stringify(connectionJson(row ?? view), null, 2));
    else io.out(`disconnected ${view.id} (${view.tenant}/${view.sellerProject})`);
    return EXIT.OK;
  } catch (e) {
    return reportError('disconnect', e, io);
  }
}
