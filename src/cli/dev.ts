// `noon-connect dev`: the local sandbox and the connector service together on SQLite under a data folder,
// with the master key and fixtures created on first run. Prints the dashboard URL.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSandbox } from '../sandbox/index.js';
import { parseConfig } from '../service/config.js';
import { createService } from '../service/service.js';
import { keygen, PKCS11_ENV } from '../vault/index.js';
import { type Io, parseOptions, waitForStop } from './io.js';

export const DEV_USAGE = `Usage: noon-connect dev [options]

Runs the local Noon sandbox and the connector service together, on SQLite under a
data folder (created on first run, with a master key and sandbox fixtures), and
prints the dashboard URL and a sign-in link that carries a token made at each
start (the REST API takes the same token). Stops on Ctrl-C (SIGINT) or
SIGTERM. With the NOON_CONNECT_PKCS11_* variables set, the master key stays in
that PKCS#11 token instead of a key file (see docs/vault.md).

Options:
  --port <n>          Service port (default 8787)
  --sandbox-port <n>  Sandbox port (default 8788)
  --data-dir <dir>    Data folder (default .data)
  -h, --help          Show this help`;

export async function devCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const parsed = parseOptions(
    'dev',
    argv,
    {
      port: { type: 'string' },
      'sandbox-port': { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    DEV_USAGE,
    io,
  );
  if (!parsed) return 2;
  const { values } = parsed;
  if (values.help) {
    io.out(DEV_USAGE);
    return 0;
  }
  const port = Number(values.port ?? 8787);
  const sandboxPort = Number(values['sandbox-port'] ?? 8788);
  // The service port is part of the callback URL registered with the sandbox, so it must be fixed.
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    io.err('noon-connect dev: --port must be an integer from 1 to 65535');
    return 2;
  }
  if (!Number.isInteger(sandboxPort) || sandboxPort < 0 || sandboxPort > 65535) {
    io.err('noon-connect dev: --sandbox-port must be an integer from 0 to 65535');
    return 2;
  }
  const dir = resolve(String(values['data-dir'] ?? '.data'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const masterKeyFile = join(dir, 'master.key');
  // With the NOON_CONNECT_PKCS11_ variables set, the master key stays in that token; otherwise a key file here.
  const pkcs11Env: Record<string, string> = {};
  for (const name of Object.values(PKCS11_ENV)) {
    const value = process.env[name];
    if (value !== undefined && value.trim() !== '') pkcs11Env[name] = value;
  }
  const inToken = Object.keys(pkcs11Env).length > 0;
  if (!inToken && !existsSync(masterKeyFile)) {
    writeFileSync(masterKeyFile, `${keygen()}\n`, { mode: 0o600 });
    chmodSync(masterKeyFile, 0o600);
    io.out(`created a master key in ${masterKeyFile}`);
  }
  const keyFile = join(dir, 'integrator-key.json');
  // The sandbox's state is disposable in dev: without its key file the fixtures are made again.
  if (!existsSync(keyFile)) rmSync(join(dir, 'sandbox.db'), { force: true });

  // H7: the sandbox's admin API (client secret, codes, faults) answers only with this start's token, which is
  // kept for the developer's own scripts in a file only they can read.
  const sandboxAdminToken = randomBytes(32).toString('base64url');
  const sandboxTokenFile = join(dir, 'sandbox-admin.token');
  writeFileSync(sandboxTokenFile, `${sandboxAdminToken}\n`, { mode: 0o600 });
  chmodSync(sandboxTokenFile, 0o600);

  let sb: Awaited<ReturnType<typeof createSandbox>>;
  try {
    sb = await createSandbox({
      port: sandboxPort,
      data: join(dir, 'sandbox.db'),
      keyFile,
      keyCacheDir: join(dir, 'key-cache'),
      adminToken: sandboxAdminToken,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(
      `noon-connect dev: cannot start the sandbox: ${code === 'EADDRINUSE' ? `port ${sandboxPort} is in use (try --sandbox-port 0)` : (e as Error).message}`,
    );
    return 1;
  }
  const fx = sb.fixtures;
  const publicUrl = `http://127.0.0.1:${port}`;
  // Make sure the sandbox's client sends sellers back to this service.
  const callback = `${publicUrl}/connect/callback`;
  if (!fx.client.redirectUris.includes(callback)) {
    sb.addClient({
      client_id: fx.client.clientId,
      client_secret: fx.client.clientSecret,
      name: fx.client.name,
      redirect_uris: [callback],
    });
  }
  let service: Awaited<ReturnType<typeof createService>>;
  try {
    const config = parseConfig(
      {
        NOON_CONNECT_MODE: 'dev',
        NOON_CONNECT_PORT: String(port),
        NOON_CONNECT_PUBLIC_URL: publicUrl,
        NOON_ENV: 'local',
        NOON_LOCAL_URL: sb.url,
        NOON_CLIENT_ID: fx.client.clientId,
        NOON_CLIENT_SECRET: fx.client.clientSecret,
        NOON_KEY_FILE: keyFile,
        NOON_CONNECT_STORE: `sqlite:${join(dir, 'connect.db')}`,
        ...(inToken ? pkcs11Env : { NOON_CONNECT_MASTER_KEY_FILE: masterKeyFile }),
        NOON_CONNECT_LOG: process.env.NOON_CONNECT_LOG ?? 'pretty',
        NOON_CONNECT_LOG_LEVEL: process.env.NOON_CONNECT_LOG_LEVEL ?? 'info',
      },
      {},
    );
    service = await createService(config);
  } catch (e) {
    await sb.close();
    io.err(`noon-connect dev: cannot start the service: ${(e as Error).message}`);
    return 1;
  }
  io.out(`noon-connect dev is running`);
  io.out(`  dashboard:  ${service.url}/`);
  // H1: without tokens the dashboard and the API take a secret made at this start; the link signs a browser in
  // (as Jupyter's does), and the REST API takes the same secret as its bearer token.
  if (service.signInUrl) io.out(`  sign in:    ${service.signInUrl}`);
  if (service.devToken)
    io.out(`  REST API:   Authorization: Bearer <the token in the sign-in link> (made at each start)`);
  io.out(`  sandbox:    ${sb.url}/  (Access App: ${sb.url}/access/oauth)`);
  io.out(`  sign in on the sandbox consent page as ${fx.seller.email} / ${fx.seller.password}`);
  io.out(`  data:       ${dir} (sandbox admin token in ${sandboxTokenFile})`);
  if (inToken) io.out(`  master key: in the PKCS#11 token (${PKCS11_ENV.module} and the rest)`);
  await waitForStop(signal);
  await service.close();
  await sb.close();
  io.out('noon-connect dev stopped');
  return 0;
}
