// `noon-connect doctor`: checks what `serve` needs (configuration, store, master key, the integrator's key file,
// Noon reachable, integrator login), one line per check with a hint when it fails. Writes nothing: the master
// key is checked against the store's record without recording anything.

import { accessSync, constants, existsSync } from 'node:fs';
import { loadCredentials, NoonClient, NoonSession } from '../client/index.js';
import { META, STATE_KEY_CONTEXT } from '../connect/invariants.js';
import { ConfigError, configWarnings, parseConfig, type ServiceConfig } from '../service/config.js';
import { closeKeyProvider, type ServiceKeyProvider, storeFailure } from '../service/wiring.js';
import { openStore, type Store } from '../store/index.js';
import { describePkcs11, Vault, type VaultMeta } from '../vault/index.js';
import { keyProvider, noonEnvironment, parseOptions, sqliteDir, sqlitePath } from './context.js';
import { EXIT, type Io } from './io.js';

export const DOCTOR_USAGE = `Usage: noon-connect doctor [--json]

Checks the service's configuration (the same environment variables as serve),
the store, the master key against the one recorded in the store, the
integrator's key file, that Noon's gateway answers, and that the integrator can
log in. One line per check: ok or FAIL, with a hint. Writes nothing.

Options:
  --timeout <ms>  Deadline for each network check (default 5000)
  --json          Print the checks as JSON
  -h, --help      Show this help

Exit codes: 0 every check passed, 1 a check failed, 3 configuration refused,
2 bad usage.`;

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  hint?: string;
  /** A warning: the check passes, but something looks wrong (e.g. a misspelt variable). */
  warning?: true;
}

/** A meta store that reads through to the real one and keeps writes to itself, so the vault check writes nothing. */
function readOnlyMeta(store: Store | undefined): VaultMeta {
  const local = new Map<string, string>();
  return {
    get: async (n) => local.get(n) ?? (store ? await store.getMeta(n) : undefined),
    set: async (n, v) => {
      local.set(n, v);
    },
    setIfAbsent: async (n, v) => {
      const now = local.get(n) ?? (store ? await store.getMeta(n) : undefined);
      if (now !== undefined) return now;
      local.set(n, v);
      return v;
    },
  };
}

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : ((e as Error)?.name ?? 'error');
}

/** Opens a store and reads from it; the store is closed again when the read fails. */
async function openAndRead(url: string): Promise<Store> {
  const store = await openStore(url);
  try {
    await store.ping();
    await store.getMeta(META.keyring);
    return store;
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
}

function storeFailed(config: ServiceConfig, e: unknown, checks: Check[]): undefined {
  checks.push({
    check: 'store',
    ok: false,
    detail: `cannot open or query the store: ${storeFailure(e, config.storeUrl)}`,
    hint:
      sqlitePath(config.storeUrl) !== undefined
        ? 'check the SQLite driver (Node 22.13+ has one built in), the file permissions and that the disk is not full'
        : 'check the Postgres URL, credentials, network and that the server is up',
  });
  return undefined;
}

/** The store passes when it opens and answers a read; a SQLite file not made yet passes when the driver works. */
async function checkStore(config: ServiceConfig, checks: Check[]): Promise<Store | undefined> {
  const file = sqlitePath(config.storeUrl);
  if (file !== undefined && !existsSync(file)) {
    const dir = sqliteDir(config.storeUrl)!;
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      checks.push({
        check: 'store',
        ok: false,
        detail: `no database at ${file}, and ${dir} is not a writable folder`,
        hint: 'create the folder, or point NOON_CONNECT_STORE at the database',
      });
      return undefined;
    }
    // Nothing to read yet: a database in memory proves the driver serve will use opens and answers.
    try {
      await (await openAndRead('sqlite::memory:')).close();
    } catch (e) {
      return storeFailed(config, e, checks);
    }
    checks.push({ check: 'store', ok: true, detail: `no database yet at ${file}; serve creates it` });
    return undefined;
  }
  try {
    const store = await openAndRead(config.storeUrl);
    checks.push({
      check: 'store',
      ok: true,
      detail: file !== undefined ? `sqlite ${file}` : `postgres ${new URL(config.storeUrl).host}`,
    });
    return store;
  } catch (e) {
    return storeFailed(config, e, checks);
  }
}

async function checkMasterKey(
  config: ServiceConfig,
  store: Store | undefined,
  checks: Check[],
): Promise<void> {
  let provider: ServiceKeyProvider | undefined;
  try {
    // With PKCS#11 the check goes through the token: it unwraps the store's state key there.
    provider = await keyProvider(config);
    const vault = await Vault.open({ provider, meta: readOnlyMeta(store) });
    const recorded = store ? await store.getMeta(META.keyring) : undefined;
    // A value sealed under the key proves more than a fingerprint: it actually opens.
    const stateKey = store ? await store.getMeta(META.stateKey) : undefined;
    if (stateKey) await vault.open(stateKey, STATE_KEY_CONTEXT);
    checks.push({
      check: 'master key',
      ok: true,
      detail: recorded
        ? `current version ${vault.currentVersion}; matches the key recorded in the store${stateKey ? ' and opens its data' : ''}`
        : `current version ${vault.currentVersion}; not recorded yet (the first start records it)`,
    });
  } catch (e) {
    const code = codeOf(e);
    checks.push({
      check: 'master key',
      ok: false,
      detail: (e as Error).message.replace(/^master key: /, ''),
      hint:
        code === 'VAULT_KEY_MISMATCH' || code === 'VAULT_DECRYPT_FAILED'
          ? config.pkcs11
            ? 'this is not the key this store was sealed with: point NOON_CONNECT_PKCS11_KEY_LABEL (and the token) at the original key'
            : 'this is not the key this store was sealed with: restore the original NOON_CONNECT_MASTER_KEY'
          : code === 'VAULT_KEY_MISSING'
            ? 'a version that sealed data is not configured: add it back (retire it only after vault rotate)'
            : config.pkcs11
              ? 'see the pkcs11 checks above'
              : config.masterKey || config.masterKeyFile
                ? `${config.masterKey ? 'NOON_CONNECT_MASTER_KEY' : `the key in NOON_CONNECT_MASTER_KEY_FILE (${config.masterKeyFile})`} is set but malformed: it must be 32 random bytes in base64, or JSON {"current","keys"} (noon-connect vault keygen makes one)`
                : 'set NOON_CONNECT_MASTER_KEY or NOON_CONNECT_MASTER_KEY_FILE (noon-connect vault keygen makes one)',
    });
  } finally {
    closeKeyProvider(provider);
  }
}

async function checkNoon(config: ServiceConfig, timeoutMs: number, checks: Check[]): Promise<void> {
  let credentials: Awaited<ReturnType<typeof loadCredentials>> | undefined;
  try {
    credentials = await loadCredentials(config.keyFile);
    checks.push({
      check: 'key file',
      ok: true,
      detail: `key ${credentials.keyId} of project ${credentials.projectCode}`,
    });
  } catch (e) {
    checks.push({
      check: 'key file',
      ok: false,
      // NOON_KEY_FILE may hold the key file's JSON itself: name the path only when it is one.
      detail: `${config.keyFile.trimStart().startsWith('{') ? 'the inline key file' : config.keyFile}: ${(e as Error).message}`,
      hint: "NOON_KEY_FILE must be the integrator's service-account key file (JSON with private_key)",
    });
  }

  let client: NoonClient | undefined;
  try {
    client = new NoonClient({
      environment: noonEnvironment(config),
      userAgent: config.userAgent,
      timeoutMs,
      retry: { connectRetries: 0 },
    });
  } catch (e) {
    checks.push({
      check: 'noon',
      ok: false,
      detail: (e as Error).message,
      hint: 'check NOON_ENV and its URLs',
    });
    return;
  }
  try {
    const origin = client.environment.gatewayOrigin;
    const started = performance.now();
    try {
      // Any HTTP answer means the gateway is reachable; its status does not matter here.
      const res = await fetch(`${origin}/`, {
        redirect: 'manual',
        headers: { 'user-agent': config.userAgent },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      checks.push({
        check: 'noon',
        ok: true,
        detail: `${origin} answered HTTP ${res.status} in ${Math.round(performance.now() - started)} ms`,
      });
    } catch (e) {
      const cause = (e as { cause?: unknown }).cause;
      checks.push({
        check: 'noon',
        ok: false,
        detail: `${origin} did not answer (${codeOf(cause ?? e)})`,
        hint: 'check NOON_ENV (and NOON_LOCAL_URL or NOON_GATEWAY_URL), DNS, proxies and the firewall',
      });
    }

    if (config.noonEnv === 'local' && client.environment.authorizeUrl)
      await checkCallbackRegistered(config, client.environment.authorizeUrl, timeoutMs, checks);

    if (!credentials) {
      checks.push({
        check: 'integrator login',
        ok: false,
        detail: 'skipped: no usable key file',
        hint: 'fix the key file first',
      });
      return;
    }
    try {
      const session = new NoonSession(client, credentials);
      await session.login();
      checks.push({
        check: 'integrator login',
        ok: true,
        detail: `logged in for project ${session.projectCode}`,
      });
    } catch (e) {
      const reason = (e as { reason?: unknown }).reason;
      checks.push({
        check: 'integrator login',
        ok: false,
        detail: `login failed (${codeOf(e)}${typeof reason === 'string' ? `, ${reason}` : ''})`,
        hint: 'the key must be active on the integrator service account, and the clock must be right',
      });
    }
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * Against a local sandbox: whether its OAuth client accepts this service's callback, by opening the consent page
 * the way a connect link would (nothing is decided, nothing is recorded). A client registered only for another
 * port would send every seller to the wrong place after Allow.
 */
async function checkCallbackRegistered(
  config: ServiceConfig,
  authorizeUrl: string,
  timeoutMs: number,
  checks: Check[],
): Promise<void> {
  const callback = `${config.publicUrl.replace(/\/+$/, '')}/connect/callback`;
  const url = new URL(authorizeUrl);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('state', 'doctor-probe');
  url.searchParams.set('redirect_uri', callback);
  try {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { 'user-agent': config.userAgent },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (/not registered for this application/.test(text)) {
      checks.push({
        check: 'callback',
        ok: false,
        detail: `the sandbox's client ${config.clientId} is not registered for ${callback}`,
        hint: `start the sandbox with --redirect-uri ${callback} (or run serve on the port it is registered for)`,
      });
    } else if (/not known to noon/.test(text)) {
      checks.push({
        check: 'callback',
        ok: false,
        detail: `the sandbox does not know the client ${config.clientId}`,
        hint: 'set NOON_CLIENT_ID and NOON_CLIENT_SECRET to the client the sandbox printed',
      });
    } else if (res.status >= 400) {
      checks.push({
        check: 'callback',
        ok: false,
        detail: `the sandbox's consent page answered HTTP ${res.status}`,
        hint: 'check NOON_LOCAL_URL and the sandbox',
      });
    } else {
      checks.push({
        check: 'callback',
        ok: true,
        detail: `${callback} is registered with ${config.clientId}`,
      });
    }
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    checks.push({
      check: 'callback',
      ok: false,
      detail: `the sandbox's consent page did not answer (${codeOf(cause ?? e)})`,
      hint: 'check NOON_LOCAL_URL and that the sandbox is running',
    });
  }
}

export async function doctorCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'doctor',
    argv,
    { timeout: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    DOCTOR_USAGE,
    io,
  );
  if (!parsed) return EXIT.USAGE;
  const { values } = parsed;
  if (values.help) {
    io.out(DOCTOR_USAGE);
    return EXIT.OK;
  }
  const timeoutMs = values.timeout === undefined ? 5000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000) {
    io.err('noon-connect doctor: --timeout must be an integer from 1 to 120000 (milliseconds)');
    return EXIT.USAGE;
  }

  const checks: Check[] = [];
  let config: ServiceConfig | undefined;
  try {
    config = parseConfig(process.env);
    checks.push({
      check: 'config',
      ok: true,
      detail: `${config.mode} mode, public URL ${config.publicUrl}, Noon ${config.noonEnv}`,
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems)
      checks.push({
        check: 'config',
        ok: false,
        detail: p,
        hint: "see 'noon-connect serve --help' for every variable",
      });
  }
  for (const w of configWarnings(process.env))
    checks.push({
      check: 'variables',
      ok: true,
      warning: true,
      detail: w,
      hint: "see 'noon-connect serve --help' for every variable",
    });
  if (config) {
    const store = await checkStore(config, checks);
    // The token's own checks (module, login, every key label), each with its hint; nothing secret is printed.
    if (config.pkcs11) checks.push(...(await describePkcs11(process.env)));
    try {
      await checkMasterKey(config, store, checks);
    } finally {
      await store?.close().catch(() => {});
    }
    await checkNoon(config, timeoutMs, checks);
  }

  if (values.json) io.out(JSON.stringify(checks, null, 2));
  else {
    const width = Math.max(...checks.map((c) => c.check.length));
    for (const c of checks)
      io.out(
        `${c.warning ? 'warn' : c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(width)}  ${c.detail}${c.hint ? `  (hint: ${c.hint})` : ''}`,
      );
  }
  if (!config) return EXIT.CONFIG;
  return checks.every((c) => c.ok) ? EXIT.OK : EXIT.FAILURE;
}
