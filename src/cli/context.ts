// What the operator commands share: the service's configuration read from the same environment variables as
// `serve`, the store, vault and connector built from it without listening or starting background work, and
// one mapping from errors to exit codes and messages.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadCredentials, NoonClient, NoonError } from '../client/index.js';
import { ConnectError, type Connector, createConnector } from '../connect/index.js';
import { ConfigError, configWarnings, parseConfig, type ServiceConfig } from '../service/config.js';
import { createLogger } from '../service/logging.js';
import {
  closeKeyProvider,
  connectorOptions,
  integratorParts,
  noonEnvironment,
  openKeyProvider,
  openVaultOn,
  type ServiceKeyProvider,
  storeFailure,
} from '../service/wiring.js';
import { causeText } from '../store/errors.js';
import { openStore, type Store, StoreError } from '../store/index.js';
import { UsageError } from '../usage-error.js';
import { type Vault, VaultError } from '../vault/index.js';
import { EXIT, type Io } from './io.js';

/** An error that already knows its exit code; its message is safe to print. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export { parseOptions } from './io.js';
export { noonEnvironment };

/** The SQLite file a store URL names, or undefined for Postgres. */
export function sqlitePath(storeUrl: string): string | undefined {
  if (/^postgres(ql)?:\/\//.test(storeUrl)) return undefined;
  const path = storeUrl.startsWith('sqlite:')
    ? storeUrl.slice('sqlite:'.length).replace(/^\/\//, '')
    : storeUrl;
  return resolve(path);
}

/**
 * Opens the configured store. Operator commands never create a SQLite database: a path that does not exist is
 * almost always a wrong NOON_CONNECT_STORE or working directory, and an empty new database would hide that.
 */
export async function openConfiguredStore(config: ServiceConfig): Promise<Store> {
  const file = sqlitePath(config.storeUrl);
  if (file !== undefined && !existsSync(file))
    throw new CliError(
      `store: no database at ${file} (check NOON_CONNECT_STORE and the working directory; serve creates it)`,
      EXIT.CONFIG,
    );
  try {
    return await openStore(config.storeUrl);
  } catch (e) {
    // A store that cannot be opened is a setting to fix (URL, driver, folder), like a missing database.
    throw new CliError(`store: cannot open (${storeFailure(e, config.storeUrl)})`, EXIT.CONFIG);
  }
}

/** The configured key provider (a local key, or a PKCS#11 token logged in to); close it when done. */
export async function keyProvider(config: ServiceConfig): Promise<ServiceKeyProvider> {
  try {
    return await openKeyProvider(config);
  } catch (e) {
    throw new CliError(`master key: ${(e as Error).message}`, EXIT.CONFIG);
  }
}

/** Opens the vault; a missing, wrong or changed master key refuses (K5) and writes nothing. */
export async function openVault(store: Store, provider: ServiceKeyProvider): Promise<Vault> {
  try {
    return await openVaultOn(store, provider);
  } catch (e) {
    throw new CliError(`master key: ${(e as Error).message}`, EXIT.CONFIG);
  }
}

export interface CliContext {
  config: ServiceConfig;
  store: Store;
  vault: Vault | undefined;
  connector: Connector | undefined;
  logger: Logger;
  close(): Promise<void>;
}

/**
 * Logs go to stderr so stdout carries only the command's output (`--json` stays parseable). Warnings and
 * errors only, unless NOON_CONNECT_LOG_LEVEL asks for more.
 */
function cliLogger(config: ServiceConfig, env: NodeJS.ProcessEnv): Logger {
  return createLogger({
    format: config.logFormat,
    level: env.NOON_CONNECT_LOG_LEVEL?.trim() ? config.logLevel : 'warn',
    destination: process.stderr,
  });
}

/**
 * Builds what a command needs from the environment: always the store; the vault when `vault` is set; the vault,
 * the Noon client and the connector when `connector` is set. Nothing listens and no background work starts.
 */
export async function openContext(
  o: { vault?: boolean; connector?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliContext> {
  const config = parseConfig(env);
  // A misspelt NOON_CONNECT_* variable would otherwise be ignored without a word.
  for (const w of configWarnings(env)) process.stderr.write(`noon-connect: warning: ${w}\n`);
  const logger = cliLogger(config, env);
  // The master key is read (or the token logged in to) before the store is touched, so a bad key refuses
  // without opening anything.
  const provider = o.vault || o.connector ? await keyProvider(config) : undefined;
  let store: Store;
  try {
    store = await openConfiguredStore(config);
  } catch (e) {
    closeKeyProvider(provider);
    throw e;
  }
  let client: NoonClient | undefined;
  let connector: Connector | undefined;
  let vault: Vault | undefined;
  const close = async () => {
    await connector?.drain().catch(() => {});
    await client?.close().catch(() => {});
    await store.close().catch(() => {});
    closeKeyProvider(provider);
  };
  try {
    if (provider) vault = await openVault(store, provider);
    if (o.connector) {
      let credentials: Awaited<ReturnType<typeof loadCredentials>>;
      try {
        credentials = await loadCredentials(config.keyFile);
      } catch (e) {
        throw new CliError(`integrator key file: ${(e as Error).message}`, EXIT.CONFIG);
      }
      try {
        client = new NoonClient({ environment: noonEnvironment(config), userAgent: config.userAgent });
      } catch (e) {
        throw new CliError(`noon: ${(e as Error).message}`, EXIT.CONFIG);
      }
      const noon = integratorParts(config, client, credentials);
      connector = await createConnector(
        connectorOptions(config, { noon, store, vault: vault!, logger, ...(provider ? { provider } : {}) }),
      );
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { config, store, vault, connector, logger, close };
}

/** Runs `body` with a context and always closes it. */
export async function withContext<T>(
  o: { vault?: boolean; connector?: boolean },
  body: (ctx: CliContext) => Promise<T>,
): Promise<T> {
  const ctx = await openContext(o);
  try {
    return await body(ctx);
  } finally {
    await ctx.close();
  }
}

/** Maps an error to an exit code and prints one line (or the configuration problems) to stderr. */
export function reportError(command: string, e: unknown, io: Io): number {
  const say = (m: string) => io.err(`noon-connect ${command}: ${m}`);
  if (e instanceof ConfigError) {
    say(`refusing to run: ${e.message}`);
    return EXIT.CONFIG;
  }
  if (e instanceof CliError) {
    say(e.message);
    return e.exit;
  }
  if (e instanceof ConnectError) {
    say(`${e.message} (${e.code})`);
    if (e.code === 'CONNECTION_NOT_FOUND') return EXIT.NOT_FOUND;
    if (e.code === 'INVALID_ARGUMENT') return EXIT.USAGE;
    if (e.code === 'CONFIG') return EXIT.CONFIG;
    return EXIT.FAILURE;
  }
  if (e instanceof NoonError) {
    say(`Noon: ${e.message} (${e.code}${e.requestId ? `, request ${e.requestId}` : ''})`);
    return EXIT.FAILURE;
  }
  if (e instanceof VaultError) {
    say(`vault: ${e.message} (${e.code})`);
    return e.code === 'VAULT_FORMAT' || e.code === 'VAULT_DECRYPT_FAILED' ? EXIT.FAILURE : EXIT.CONFIG;
  }
  // A store error (or a database driver's: Postgres errors carry a SQLSTATE and a severity) names its cause in
  // its first line, e.g. 'relation "nc_events" does not exist'; the code alone says nothing to a person.
  const err = e as { code?: unknown; name?: string; severity?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : (err?.name ?? 'error');
  if (e instanceof UsageError) {
    // Messages of coded misuse name the option or field, never its value.
    say(`${e.message} (${e.code})`);
    return EXIT.FAILURE;
  }
  if (e instanceof StoreError || typeof err?.severity === 'string') {
    say(
      `store: ${causeText(e).slice(0, 300)} (${typeof err.severity === 'string' ? `SQLSTATE ${code}` : code})`,
    );
    return EXIT.FAILURE;
  }
  // Anything else: only its class and code, never a message that could quote data.
  say(`failed (${code})`);
  return EXIT.FAILURE;
}

/** A timestamp for people: ISO 8601, or a dash. */
export function when(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

/** A plain text table: columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The directory a SQLite store lives in (for doctor's "will be created" check). */
export function sqliteDir(storeUrl: string): string | undefined {
  const f = sqlitePath(storeUrl);
  return f === undefined ? undefined : dirname(f);
}
