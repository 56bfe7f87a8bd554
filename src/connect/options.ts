// The connector's options checked, completed with their defaults and frozen, once, when it is built: the rest of
// the connector reads only these resolved values.

import { randomBytes as cryptoRandomBytes, randomUUID } from 'node:crypto';
import { isLoopbackHost } from '../client/index.js';
import { ConnectError, usageError } from './errors.js';
import type { ConnectorOptions } from './types.js';

/** A connect link lives at most 10 minutes (S4). */
export const MAX_STATE_TTL_MS = 10 * 60_000;

/** Reconciler thresholds: how long an attempt may sit in a status before the reconciler takes it over. */
export type ReconcileThresholds = Readonly<Required<NonNullable<ConnectorOptions['reconcileAfterMs']>>>;

export interface ResolvedOptions
  extends Pick<ConnectorOptions, 'noon' | 'store' | 'vault' | 'environment' | 'publicUrl'> {
  readonly redirectUri: string | undefined;
  /** The public URL is https: the binding cookie is `__Host-` and `Secure`. */
  readonly secureCookies: boolean;
  readonly stateTtlMs: number;
  readonly returnPaths: readonly string[];
  readonly now: () => number;
  readonly randomBytes: (n: number) => Buffer;
  readonly uuid: () => string;
  readonly sleep: (ms: number) => Promise<void>;
  /** Every event gets one delivery row per endpoint. */
  readonly webhookEndpoints: readonly string[];
  readonly onEvent: ConnectorOptions['onEvent'];
  readonly stepHook: ConnectorOptions['stepHook'];
  readonly logger: ConnectorOptions['logger'];
  readonly verifyLogin: boolean;
  readonly alreadyConnectedWindowMs: number;
  readonly slotWaitMs: number;
  readonly thresholds: ReconcileThresholds;
  readonly sellerSessionCacheSize: number;
  readonly signingKeys: ConnectorOptions['signingKeys'];
  readonly retention: Readonly<Required<NonNullable<ConnectorOptions['retention']>>> | undefined;
}

const ENVIRONMENT = /^[a-z0-9-]{1,32}$/;
const KEY_STORE_METHODS = ['importKey', 'sign', 'has', 'destroy'];

/** An absolute http(s) URL; in production, plain http only to a loopback address (U12). */
function checkUrl(value: string, what: string, production: boolean): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(`${what} must be an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw usageError(`${what} must be http or https`);
  if (production && url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new ConnectError(
      'CONFIG',
      `${what} must use https in production (only a loopback address may use http)`,
    );
  return url;
}

/** Checks the options (misuse throws a coded TypeError; a refused production setup a CONFIG error). */
export function resolveOptions(options: ConnectorOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') throw usageError('createConnector needs options');
  for (const k of ['noon', 'store', 'vault'] as const) {
    if (!options[k]) throw usageError(`createConnector: ${k} is required`);
  }
  if (typeof options.environment !== 'string' || !ENVIRONMENT.test(options.environment))
    throw usageError('environment must be 1-32 lowercase letters, digits or -');
  // Production (U12): the binding cookie and webhook payloads travel over these URLs.
  const production = options.environment === 'production';
  const publicUrl = checkUrl(options.publicUrl, 'publicUrl', production);
  const ttl = options.stateTtlMs;
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0 && ttl <= MAX_STATE_TTL_MS))
    throw usageError('stateTtlMs must be a positive integer of at most 10 minutes');
  for (const p of options.returnPaths ?? []) {
    if (typeof p !== 'string' || !p.startsWith('/') || p.startsWith('//'))
      throw usageError('returnPaths are absolute paths');
  }
  const keys = options.signingKeys as unknown as Record<string, unknown> | undefined;
  if (keys !== undefined && !KEY_STORE_METHODS.every((m) => typeof keys?.[m] === 'function'))
    throw usageError('signingKeys must be a SigningKeyStore (importKey, sign, has, destroy)');
  if (options.webhooks) {
    const { endpoints, secret } = options.webhooks;
    if (typeof secret !== 'string' || secret.length < 16)
      throw usageError('webhooks.secret must be at least 16 characters');
    for (const e of endpoints) checkUrl(e, 'webhook endpoints', production);
  }
  const r = options.retention;
  if (r !== undefined) {
    if (!(Number.isInteger(r.afterMs) && r.afterMs >= 60_000))
      throw usageError('retention.afterMs must be an integer of at least one minute');
    for (const k of ['batchSize', 'maxBatches'] as const)
      if (r[k] !== undefined && !(Number.isInteger(r[k]) && r[k] > 0))
        throw usageError(`retention.${k} must be a positive integer`);
  }
  const clock = options.clock;
  return Object.freeze({
    noon: options.noon,
    store: options.store,
    vault: options.vault,
    environment: options.environment,
    publicUrl: options.publicUrl,
    redirectUri: options.redirectUri,
    secureCookies: publicUrl.protocol === 'https:',
    stateTtlMs: ttl ?? MAX_STATE_TTL_MS,
    returnPaths: Object.freeze([...(options.returnPaths ?? ['/'])]),
    now: clock ? () => clock.now() : Date.now,
    randomBytes: options.randomBytes ?? cryptoRandomBytes,
    uuid: options.uuid ?? randomUUID,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))),
    webhookEndpoints: Object.freeze([...(options.webhooks?.endpoints ?? [])]),
    onEvent: options.onEvent,
    stepHook: options.stepHook,
    logger: options.logger,
    verifyLogin: options.verifyLogin ?? true,
    alreadyConnectedWindowMs: options.alreadyConnectedWindowMs ?? 10 * 60_000,
    slotWaitMs: options.slotWaitMs ?? 20_000,
    thresholds: Object.freeze({
      CLAIMED: 2 * 60_000,
      TOKEN_ISSUED: 60_000,
      EXCHANGE_SENT: 2 * 60_000,
      KEY_STORED: 60_000,
      retiring: 60_000,
      ...(options.reconcileAfterMs ?? {}),
    }),
    sellerSessionCacheSize: options.sellerSessionCacheSize ?? 100,
    signingKeys: options.signingKeys,
    retention: r
      ? Object.freeze({ afterMs: r.afterMs, batchSize: r.batchSize ?? 100, maxBatches: r.maxBatches ?? 2000 })
      : undefined,
  });
}
