// `noon-connect sandbox`: runs the local Noon emulator until interrupted.

import { createSandbox } from '../sandbox/index.js';
import { type Io, parseOptions, waitForStop } from './io.js';

export const SANDBOX_USAGE = `Usage: noon-connect sandbox [options]

Runs a local stand-in for Noon's consent page and API gateway on one origin, with
an admin API under /_sandbox/. Stops on Ctrl-C (SIGINT) or SIGTERM.

Options:
  --port <n>        Port to listen on (default 8788; 0 picks a free one)
  --host <addr>     Interface to bind (default 127.0.0.1)
  --config <file>   Fixtures JSON (integrators, clients, sellers)
  --data <file>     Keep state in this SQLite file (default: memory only)
  --key-file <file> Where to write the integrator's key file
  --pool-size <n>   RSA keys kept ready for exchanges (default 8)
  --key-cache <dir> Keep unused pool keys here across runs
  --admin-token <t> Require 'Authorization: Bearer <t>' on /_sandbox/
  -h, --help        Show this help`;

function intOption(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new TypeError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

export async function sandboxCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const parsed = parseOptions(
    'sandbox',
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string' },
      'key-file': { type: 'string' },
      'pool-size': { type: 'string' },
      'key-cache': { type: 'string' },
      'admin-token': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    SANDBOX_USAGE,
    io,
  );
  if (!parsed) return 2;
  const { values } = parsed;
  if (values.help) {
    io.out(SANDBOX_USAGE);
    return 0;
  }
  let port: number | undefined;
  let poolSize: number | undefined;
  try {
    port = intOption(values.port as string | undefined, 'port', 0, 65535);
    poolSize = intOption(values['pool-size'] as string | undefined, 'pool-size', 1, 1000);
  } catch (e) {
    io.err(`noon-connect sandbox: ${(e as Error).message}`);
    return 2;
  }
  const str = (k: string) => values[k] as string | undefined;
  let sb: Awaited<ReturnType<typeof createSandbox>>;
  try {
    sb = await createSandbox({
      port: port ?? 8788,
      ...(str('host') ? { host: str('host')! } : {}),
      ...(str('config') ? { config: str('config')! } : {}),
      ...(str('data') ? { data: str('data')! } : {}),
      ...(str('key-file') ? { keyFile: str('key-file')! } : {}),
      ...(poolSize !== undefined ? { poolSize } : {}),
      ...(str('key-cache') ? { keyCacheDir: str('key-cache')! } : {}),
      ...(str('admin-token') ? { adminToken: str('admin-token')! } : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(
      `noon-connect sandbox: cannot start: ${code === 'EADDRINUSE' ? `port ${port ?? 8788} is in use (try --port 0)` : (e as Error).message}`,
    );
    return 1;
  }
  const f = sb.fixtures;
  io.out(`noon-connect sandbox running at ${sb.url}`);
  io.out(`  consent page (authorizeUrl): ${sb.authorizeUrl}`);
  io.out(`  API gateway  (gatewayUrl):   ${sb.gatewayUrl}`);
  io.out(`  admin API:                   ${sb.url}/_sandbox/`);
  io.out(`  Access App:                  ${sb.url}/access/oauth`);
  io.out('');
  io.out(`integrator project ${f.integrator.projectCode}, service account ${f.integrator.channelIdentifier}`);
  io.out(`  key file: ${f.integrator.keyFile ?? '(kept from an earlier run; see --key-file)'}`);
  io.out(`OAuth client: client_id=${f.client.clientId}`);
  io.out(`  client_secret=${f.client.clientSecret}`);
  io.out(`  redirect URIs: ${f.client.redirectUris.join(', ')}`);
  io.out('sellers (sign in on the consent page):');
  for (const s of f.sellers) io.out(`  ${s.email} / ${s.password}  projects ${s.projects.join(', ')}`);

  await waitForStop(signal);
  await sb.close();
  io.out('noon-connect sandbox stopped');
  return 0;
}
