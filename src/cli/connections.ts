// `noon-connect connections list|show`: what is connected, read from the store. Metadata only: key ids,
// channel identifiers and dates, never a key, token or sealed value (K7). `--json` prints the REST API's shape.

import { CONNECTION_STATUSES } from '../connect/invariants.js';
import { connectionDetailJson, connectionListJson } from '../service/views.js';
import type { ConnectionStatus } from '../store/index.js';
import { parseOptions, reportError, table, when, withContext } from './context.js';
import { EXIT, type Io } from './io.js';

export const CONNECTIONS_USAGE = `Usage: noon-connect connections list [--tenant <t>] [--status <s>] [--json]
       noon-connect connections show <connection-id> [--json]

Lists the sellers' connections, or shows one with its keys (ids and states only)
and its recent connect attempts. Reads the same environment variables as serve
(the store only; no Noon call).

Options:
  --tenant <t>   Only this tenant's connections
  --status <s>   Only connections in this status: active, needs_reconnect, disconnected
  --json         Print JSON (the REST API's shape) instead of a table
  -h, --help     Show this help

Exit codes: 0 ok, 2 bad usage, 3 configuration refused, 4 no such connection, 1 other failure.`;

export async function connectionsCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? io.err : io.out)(CONNECTIONS_USAGE);
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (sub === 'list') return list(rest, io);
  if (sub === 'show') return show(rest, io);
  io.err(`noon-connect connections: unknown subcommand '${sub}'\n\n${CONNECTIONS_USAGE}`);
  return EXIT.USAGE;
}

async function list(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'connections list',
    argv,
    {
      tenant: { type: 'string' },
      status: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    CONNECTIONS_USAGE,
    io,
  );
  if (!parsed) return EXIT.USAGE;
  const { values } = parsed;
  if (values.help) {
    io.out(CONNECTIONS_USAGE);
    return EXIT.OK;
  }
  const status = values.status as string | undefined;
  if (status !== undefined && !(CONNECTION_STATUSES as readonly string[]).includes(status)) {
    io.err(`noon-connect connections list: --status must be one of ${CONNECTION_STATUSES.join(', ')}`);
    return EXIT.USAGE;
  }
  const tenant = values.tenant as string | undefined;
  try {
    const rows = await withContext({}, ({ store }) =>
      store.listConnections({
        ...(tenant !== undefined ? { tenant } : {}),
        ...(status !== undefined ? { status: status as ConnectionStatus } : {}),
      }),
    );
    if (values.json) {
      io.out(JSON.stringify(connectionListJson(rows), null, 2));
      return EXIT.OK;
    }
    if (rows.length === 0) {
      io.out('no connections');
      return EXIT.OK;
    }
    for (const line of table(
      ['ID', 'TENANT', 'SELLER PROJECT', 'STATUS', 'KEY ID', 'CONNECTED AT'],
      rows.map((c) => [c.id, c.tenant, c.sellerProject, c.status, c.keyId ?? '-', when(c.connectedAt)]),
    ))
      io.out(line);
    return EXIT.OK;
  } catch (e) {
    return reportError('connections list', e, io);
  }
}

async function show(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'connections show',
    argv,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    CONNECTIONS_USAGE,
    io,
    true,
  );
  if (!parsed) return EXIT.USAGE;
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(CONNECTIONS_USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) {
    io.err(`noon-connect connections show: give exactly one connection id\n\n${CONNECTIONS_USAGE}`);
    return EXIT.USAGE;
  }
  const id = positionals[0]!;
  try {
    const found = await withContext({}, async ({ store }) => {
      const c = await store.getConnection(id);
      if (!c) return undefined;
      const credentials = await store.listCredentials({ connectionId: c.id });
      const attempts = await store.listAttempts({ connectionId: c.id, limit: 10 });
      return connectionDetailJson(c, credentials, attempts);
    });
    if (!found) {
      io.err(`noon-connect connections show: no connection ${id}`);
      return EXIT.NOT_FOUND;
    }
    if (values.json) {
      io.out(JSON.stringify(found, null, 2));
      return EXIT.OK;
    }
    const h = found.last_health;
    const health =
      h === null
        ? 'never checked'
        : `${h.ok ? 'ok' : 'FAILED'} at ${h.checked_at}${h.detail ? ` (${h.detail})` : ''}`;
    for (const [k, v] of [
      ['id', found.id],
      ['tenant', found.tenant],
      ['seller project', found.seller_project],
      ['status', found.status],
      ['key id', found.key_id ?? '-'],
      ['channel', found.channel_identifier ?? '-'],
      ['user code', found.user_code ?? '-'],
      ['oauth request', found.oauth_request_id ?? '-'],
      ['created', found.created_at ?? '-'],
      ['connected', found.connected_at ?? '-'],
      ['updated', found.updated_at ?? '-'],
      ['health', health],
    ] as const)
      io.out(`${`${k}:`.padEnd(16)}${v}`);
    io.out('');
    io.out('keys:');
    for (const line of table(
      ['CREDENTIAL', 'KEY ID', 'STATE', 'CREATED', 'REMOVED'],
      found.credentials.map((k) => [
        `${k.id}${k.in_use ? ' *' : ''}`,
        k.key_id,
        k.state,
        k.created_at ?? '-',
        k.removed_at ?? '-',
      ]),
    ))
      io.out(`  ${line}`);
    io.out('');
    io.out('recent attempts:');
    for (const line of table(
      ['ATTEMPT', 'KIND', 'STATUS', 'ERROR', 'CREATED'],
      found.attempts.map((a) => [a.id, a.kind, a.status, a.error_code ?? '-', a.created_at ?? '-']),
    ))
      io.out(`  ${line}`);
    return EXIT.OK;
  } catch (e) {
    return reportError('connections show', e, io);
  }
}
