// `noon-connect sandbox`: runs the local Noon emulator until interrupted.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, loadConfigFile, type SandboxConfig } from '../sandbox/fixtures.js';
import { isLoopbackName } from '../sandbox/guard.js';
import { createSandbox } from '../sandbox/index.js';
import { type Io, parseOptions, waitForStop } from './io.js';

/** The most keys the pool keeps ready (the key pool's own limit). */
export const MAX_POOL_SIZE = 10_000;

export const SANDBOX_USAGE = `Usage: noon-connect sandbox [options]

Runs a local stand-in for Noon's consent page and API gateway on one origin, with
an admin API under /_sandbox/. Stops on Ctrl-C (SIGINT) or SIGTERM.

Options:
  --port <n>        Port to listen on (default 8788; 0 picks a free one)
  --host <addr>     Interface to bind (default 127.0.0.1)
  --config <file>   Fixtures JSON (integrators, clients, sellers)
  --data <file>     Keep state in this SQLite file (default: memory only)
  --key-file <file> Where to write the integrator's key file (default: a temp
                    folder, removed when the sandbox stops)
  --redirect-uri <url>  Also register this callback URL with the first OAuth
                    client (repeatable), e.g. http://127.0.0.1:3000/connect/callback
                    for a service or app that is not on the default 8787
  --pool-size <n>   RSA keys kept ready for exchanges (default 8, at most 10000)
  --key-cache <dir> Keep unused pool keys here across runs
  --json            Print the start-up details as one JSON object
  --admin-token <t> Require 'Authorization: Bearer <t>' on /_sandbox/; required with a --host beyond loopback
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
      'redirect-uri': { type: 'string', multiple: true },
      'pool-size': { type: 'string' },
      'key-cache': { type: 'string' },
      'admin-token': { type: 'string' },
      json: { type: 'boolean' },
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
    poolSize = intOption(values['pool-size'] as string | undefined, 'pool-size', 1, MAX_POOL_SIZE);
  } catch (e) {
    io.err(`noon-connect sandbox: ${(e as Error).message}`);
    return 2;
  }
  const str = (k: string) => values[k] as string | undefined;
  // Beyond loopback any page that can name the sandbox (DNS rebinding included) could reach its admin API, which
  // hands out client secrets and mints codes: a token is required there.
  const bindHost = str('host');
  if (bindHost !== undefined && !isLoopbackName(bindHost) && !str('admin-token')) {
    io.err(
      `noon-connect sandbox: --host ${bindHost} is not loopback, so --admin-token <t> is required (the admin API hands out client secrets and mints codes)`,
    );
    return 2;
  }
  const redirectUris = (values['redirect-uri'] as string[] | undefined) ?? [];
  let config: SandboxConfig | string | undefined = str('config');
  try {
    for (const u of redirectUris) {
      const url = new URL(u);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('not http(s)');
    }
  } catch {
    io.err(
      `noon-connect sandbox: --redirect-uri must be an absolute http(s) URL, e.g. http://127.0.0.1:3000/connect/callback`,
    );
    return 2;
  }
  // Without --key-file (or --data, beside which it is kept) the key file goes to a temp folder of this run,
  // removed when the sandbox stops.
  const tempKeyDir =
    !str('key-file') && !str('data') ? mkdtempSync(join(tmpdir(), 'noon-connect-sandbox-')) : undefined;
  const removeTemp = () => {
    if (tempKeyDir) rmSync(tempKeyDir, { recursive: true, force: true });
  };
  let sb: Awaited<ReturnType<typeof createSandbox>>;
  try {
    if (redirectUris.length > 0) {
      // The first client (the one a quick start uses) also accepts these callbacks.
      const base = config ? loadConfigFile(config) : structuredClone(DEFAULT_CONFIG as SandboxConfig);
      const [first, ...rest] = base.clients ?? [];
      if (first) {
        const known = first.redirect_uris ?? [];
        first.redirect_uris = [...known, ...redirectUris.filter((u) => !known.includes(u))];
      }
      config = { ...base, clients: first ? [first, ...rest] : rest };
    }
    sb = await createSandbox({
      port: port ?? 8788,
      ...(str('host') ? { host: str('host')! } : {}),
      ...(config ? { config } : {}),
      ...(str('data') ? { data: str('data')! } : {}),
      ...(str('key-file') ? { keyFile: str('key-file')! } : {}),
      ...(tempKeyDir ? { keyFile: join(tempKeyDir, 'integrator-key.json') } : {}),
      ...(poolSize !== undefined ? { poolSize } : {}),
      ...(str('key-cache') ? { keyCacheDir: str('key-cache')! } : {}),
      ...(str('admin-token') ? { adminToken: str('admin-token')! } : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(
      `noon-connect sandbox: cannot start: ${code === 'EADDRINUSE' ? `port ${port ?? 8788} is in use (try --port 0)` : (e as Error).message}`,
    );
    removeTemp();
    return 1;
  }
  const f = sb.fixtures;
  if (values.json) {
    io.out(
      JSON.stringify({
        url: sb.url,
        authorize_url: sb.authorizeUrl,
        gateway_url: sb.gatewayUrl,
        admin_url: `${sb.url}/_sandbox/`,
        integrator: {
          project_code: f.integrator.projectCode,
          channel_identifier: f.integrator.channelIdentifier,
          key_file: f.integrator.keyFile ?? null,
          key_file_removed_at_exit: tempKeyDir !== undefined,
        },
        clients: f.clients.map((c) => ({
          client_id: c.clientId,
          client_secret: c.clientSecret,
          name: c.name,
          redirect_uris: c.redirectUris,
        })),
        pool_size: poolSize ?? 8,
        sellers: f.sellers.map((x) => ({ email: x.email, password: x.password, projects: x.projects })),
      }),
    );
  } else {
    io.out(`noon-connect sandbox running at ${sb.url}`);
    io.out(`  consent page (authorizeUrl): ${sb.authorizeUrl}`);
    io.out(`  API gateway  (gatewayUrl):   ${sb.gatewayUrl}`);
    io.out(`  admin API:                   ${sb.url}/_sandbox/`);
    io.out(`  Access App:                  ${sb.url}/access/oauth`);
    io.out('');
    io.out(
      `integrator project ${f.integrator.projectCode}, service account ${f.integrator.channelIdentifier}`,
    );
    io.out(`  key file: ${f.integrator.keyFile ?? '(kept from an earlier run; see --key-file)'}`);
    io.out(
      `  (${tempKeyDir ? 'a temp folder, removed when the sandbox stops; keep it with --key-file' : 'kept'})`,
    );
    for (const [i, c] of f.clients.entries()) {
      io.out(`OAuth client${f.clients.length > 1 ? ` ${i + 1}` : ''}: client_id=${c.clientId}  (${c.name})`);
      io.out(`  client_secret=${c.clientSecret}`);
      io.out(`  redirect URIs: ${c.redirectUris.join(', ')}`);
    }
    io.out(`key pool: ${poolSize ?? 8} RSA keys kept ready (--pool-size, at most ${MAX_POOL_SIZE})`);
    io.out('sellers (sign in on the consent page):');
    for (const s of f.sellers) io.out(`  ${s.email} / ${s.password}  projects ${s.projects.join(', ')}`);
  }
  await waitForStop(signal);
  await sb.close();
  removeTemp();
  if (!values.json) io.out('noon-connect sandbox stopped');
  return 0;
}
