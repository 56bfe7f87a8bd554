// `noon-connect dev`: the local sandbox and the connector service together on SQLite under a data folder,
// with the master key and fixtures created on first run. Prints the dashboard URL.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSandbox } from '../sandbox/index.js';
import { configWarnings, parseConfig } from '../service/config.js';
import { createService } from '../service/service.js';
import { closeKeyProvider, openKeyProvider, openVaultOn } from '../service/wiring.js';
import { openStore } from '../store/index.js';
import { keygen, PKCS11_ENV } from '../vault/index.js';
import { type Io, parseOptions, waitForStop } from './io.js';
import { devWebhookSecret } from './webhooks.js';

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
  --json              Print the start-up details as one JSON object
  -h, --help          Show this help`;

export async function devCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const parsed = parseOptions(
    'dev',
    argv,
    {
      port: { type: 'string' },
      'sandbox-port': { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
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
  for (const w of configWarnings(process.env)) io.err(`noon-connect dev: warning: ${w}`);
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
  const storeFile = join(dir, 'connect.db');
  if (!inToken && !existsSync(masterKeyFile) && existsSync(storeFile)) {
    // A store made with another master key (an app's, or an earlier folder's): a new key here could never open it.
    io.err(
      `noon-connect dev: ${storeFile} exists but ${masterKeyFile} does not: the store was made with another master key.\n` +
        `  Use another data folder (--data-dir <dir>), put that store's master key in ${masterKeyFile},\n` +
        `  or remove ${storeFile} to start over (its connections are lost).`,
    );
    return 3;
  }
  if (!inToken && !existsSync(masterKeyFile)) {
    writeFileSync(masterKeyFile, `${keygen()}\n`, { mode: 0o600 });
    chmodSync(masterKeyFile, 0o600);
    (values.json ? io.err : io.out)(`created a master key in ${masterKeyFile}`);
  }
  if (existsSync(storeFile)) {
    // The master key against the store's recorded fingerprints, before the sandbox starts: refused at once.
    const refused = await masterKeyRefusal(
      inToken ? pkcs11Env : { NOON_CONNECT_MASTER_KEY_FILE: masterKeyFile },
      storeFile,
    );
    if (refused) {
      io.err(
        `noon-connect dev: the master key does not open ${storeFile} (${refused}).\n` +
          `  The store was made with another master key: use another data folder (--data-dir <dir>), restore\n` +
          `  that store's key in ${inToken ? 'the PKCS#11 token' : masterKeyFile}, or remove ${storeFile} to start over.`,
      );
      return 3;
    }
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
        NOON_CONNECT_STORE: `sqlite:${storeFile}`,
        // Webhooks: dev delivers to the URLs given, signed with the secret given (or one made for this folder).
        ...webhookEnv(dir),
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
  const hooks = webhookEnv(dir);
  if (values.json) {
    io.out(
      JSON.stringify({
        dashboard: `${service.url}/`,
        sign_in: service.signInUrl ?? null,
        sandbox: `${sb.url}/`,
        sellers: fx.sellers.map((x) => ({ email: x.email, password: x.password, projects: x.projects })),
        webhooks: hooks.NOON_CONNECT_WEBHOOK_URLS ?? null,
        data_dir: dir,
      }),
    );
  } else {
    io.out(`noon-connect dev is running`);
    io.out(`  dashboard:  ${service.url}/`);
    // H1: without tokens the dashboard and the API take a secret made at this start; the link signs a browser in
    // (as Jupyter's does), and the REST API takes the same secret as its bearer token.
    if (service.signInUrl) io.out(`  sign in:    ${service.signInUrl}`);
    const restTakesDevToken = service.devToken !== undefined && service.context.config.apiToken === undefined;
    if (restTakesDevToken && service.signInUrl)
      io.out(`  REST API:   Authorization: Bearer <the token in the sign-in link> (made at each start)`);
    else if (restTakesDevToken)
      io.out(`  REST API:   Authorization: Bearer ${service.devToken} (made at each start)`);
    io.out(`  sandbox:    ${sb.url}/  (Access App: ${sb.url}/access/oauth)`);
    io.out('  sellers (sign in on the sandbox consent page):');
    for (const seller of fx.sellers)
      io.out(`    ${seller.email} / ${seller.password}  projects ${seller.projects.join(', ')}`);
    io.out(`  sign in on the sandbox consent page as ${fx.seller.email} / ${fx.seller.password}`);
    if (hooks.NOON_CONNECT_WEBHOOK_URLS)
      io.out(`  webhooks:   ${hooks.NOON_CONNECT_WEBHOOK_URLS} (secret in ${join(dir, 'webhook.secret')})`);
    io.out(`  data:       ${dir} (sandbox admin token in ${sandboxTokenFile})`);
    if (inToken) io.out(`  master key: in the PKCS#11 token (${PKCS11_ENV.module} and the rest)`);
  }
  await waitForStop(signal);
  await service.close();
  await sb.close();
  if (!values.json) io.out('noon-connect dev stopped');
  return 0;
}

/**
 * Why the master key cannot open the store, or undefined when it can: the vault's fingerprint check, run on the
 * store alone (nothing else is started, nothing is written when they match).
 */
async function masterKeyRefusal(
  keyEnv: Record<string, string>,
  storeFile: string,
): Promise<string | undefined> {
  const config = parseConfig(
    {
      NOON_CONNECT_MODE: 'dev',
      NOON_ENV: 'local',
      NOON_LOCAL_URL: 'http://127.0.0.1:1',
      NOON_CLIENT_ID: 'dev',
      NOON_CLIENT_SECRET: 'dev',
      NOON_KEY_FILE: storeFile,
      NOON_CONNECT_STORE: `sqlite:${storeFile}`,
      ...keyEnv,
    },
    {},
  );
  const provider = await openKeyProvider(config);
  const store = await openStore(config.storeUrl);
  try {
    await openVaultOn(store, provider);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await store.close().catch(() => {});
    closeKeyProvider(provider);
  }
}

/**
 * The webhook settings dev runs with: `NOON_CONNECT_WEBHOOK_URLS` from the environment, signed with
 * `NOON_CONNECT_WEBHOOK_SECRET` or, without one, a secret made once for the data folder (kept in webhook.secret,
 * readable by its owner only) so `webhooks listen` and a receiver can check signatures.
 */
export function webhookEnv(dir: string): Record<string, string> {
  const urls = process.env.NOON_CONNECT_WEBHOOK_URLS?.trim();
  if (!urls) return {};
  const secret = process.env.NOON_CONNECT_WEBHOOK_SECRET?.trim() || devWebhookSecret(dir);
  return { NOON_CONNECT_WEBHOOK_URLS: urls, NOON_CONNECT_WEBHOOK_SECRET: secret };
}
