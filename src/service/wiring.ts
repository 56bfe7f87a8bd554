// The pieces the service and the operator commands build the same way from one configuration; each caller
// wraps failures in its own error (StartupError for the service, CliError with an exit code for the CLI).

import type { Logger } from 'pino';
import {
  NoonApiUsers,
  type NoonClient,
  type NoonCredentials,
  type NoonEnvironment,
  NoonOAuth,
  NoonSession,
} from '../client/index.js';
import type { ConnectorLogEntry, ConnectorOptions, NoonParts } from '../connect/index.js';
import { metaOf, type Store } from '../store/index.js';
import {
  type KeyProvider,
  LocalKeyProvider,
  type LocalKeyProviderOptions,
  openPkcs11KeyProvider,
  Pkcs11KeyProvider,
  parseKeyConfig,
  readKeyConfigFile,
  Vault,
} from '../vault/index.js';
import type { ServiceConfig } from './config.js';

export function noonEnvironment(c: ServiceConfig): NoonEnvironment {
  switch (c.noonEnv) {
    case 'local':
      return { local: c.noonLocalUrl! };
    case 'custom':
      return { authorizeUrl: c.noonAuthorizeUrl!, gatewayUrl: c.noonGatewayUrl! };
    default:
      return c.noonEnv;
  }
}

/** The master key versions, from the key file or the variable. */
export function readMasterKey(c: ServiceConfig): Promise<LocalKeyProviderOptions> {
  return c.masterKeyFile
    ? readKeyConfigFile(c.masterKeyFile)
    : Promise.resolve().then(() => parseKeyConfig(c.masterKey));
}

/** Where the configured master key lives: in process (a key or key file) or in a PKCS#11 token. */
export type ServiceKeyProvider = LocalKeyProvider | Pkcs11KeyProvider;

/**
 * The key provider the configuration names: the PKCS#11 token (logged in, every key label checked) or the local
 * master key versions. Close it with {@link closeKeyProvider} when the process is done with it.
 */
export async function openKeyProvider(c: ServiceConfig): Promise<ServiceKeyProvider> {
  if (c.pkcs11) return openPkcs11KeyProvider(c.pkcs11);
  return new LocalKeyProvider(await readMasterKey(c));
}

/** Logs out of the token and releases its module (nothing to do for a local provider). Idempotent. */
export function closeKeyProvider(p: KeyProvider | undefined): void {
  if (p instanceof Pkcs11KeyProvider) p.close();
}

/**
 * The vault over the store's meta table: a missing, wrong or changed master key refuses and writes nothing.
 * Takes an open provider (see {@link openKeyProvider}), or local master key versions.
 */
export function openVaultOn(store: Store, source: KeyProvider | LocalKeyProviderOptions): Promise<Vault> {
  const provider =
    typeof (source as KeyProvider).wrap === 'function'
      ? (source as KeyProvider)
      : new LocalKeyProvider(source as LocalKeyProviderOptions);
  return Vault.open({ provider, meta: metaOf(store) });
}

/** The integrator's session and the OAuth and API User Service calls made over it. */
export function integratorParts(
  c: ServiceConfig,
  client: NoonClient,
  credentials: NoonCredentials,
): NoonParts & { integrator: NoonSession } {
  const integrator = new NoonSession(client, credentials);
  return {
    client,
    integrator,
    oauth: new NoonOAuth({ session: integrator, clientId: c.clientId, clientSecret: c.clientSecret }),
    apiUsers: new NoonApiUsers({ session: integrator }),
  };
}

/**
 * Connector options every process of one deployment shares (environment, URLs, webhooks, logging, and with
 * NOON_CONNECT_PKCS11_SELLER_KEYS=true the token as the sellers' signing-key store).
 */
export function connectorOptions(
  c: ServiceConfig,
  o: { noon: NoonParts; store: Store; vault: Vault; logger: Logger; provider?: KeyProvider },
): ConnectorOptions {
  const sellerKeysInToken = c.pkcs11?.sellerKeys === true && o.provider instanceof Pkcs11KeyProvider;
  return {
    ...(sellerKeysInToken ? { signingKeys: (o.provider as Pkcs11KeyProvider).signingKeys() } : {}),
    noon: { client: o.noon.client, oauth: o.noon.oauth, apiUsers: o.noon.apiUsers },
    store: o.store,
    vault: o.vault,
    environment: c.noonEnv === 'custom' ? 'custom' : c.noonEnv,
    publicUrl: c.publicUrl,
    returnPaths: c.returnPaths,
    logger: ({ level, msg, ...fields }: ConnectorLogEntry) => o.logger[level](fields, msg),
    // Delivery rows are committed with each change; whichever process runs a webhook worker sends them.
    ...(c.webhookUrls.length > 0 ? { webhooks: { endpoints: c.webhookUrls, secret: c.webhookSecret! } } : {}),
  };
}

/**
 * Why the store could not be opened or queried, in one line: the driver's own words and those of its causes
 * (`database "x" does not exist`, a SQLite message, a missing driver), never the store URL's password.
 */
export function storeFailure(e: unknown, storeUrl: string): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur !== null && typeof cur === 'object'; depth++) {
    const message = (cur as { message?: unknown }).message;
    if (
      typeof message === 'string' &&
      message.trim() !== '' &&
      !parts.some((p) => p.includes(message.trim()))
    )
      parts.push(message.trim());
    cur = (cur as { cause?: unknown }).cause;
  }
  const err = e as { code?: unknown; name?: unknown } | null;
  let text =
    parts.length > 0
      ? parts.join(': ')
      : typeof err?.code === 'string'
        ? err.code
        : typeof err?.name === 'string'
          ? err.name
          : 'error';
  let password = '';
  try {
    password = new URL(storeUrl).password;
  } catch {
    // Not a URL (a SQLite path): nothing to hide.
  }
  if (password !== '') {
    for (const p of new Set([password, decodeURIComponent(password)])) text = text.replaceAll(p, '***');
  }
  return text.replace(/\s+/g, ' ').slice(0, 500);
}
