// The service's configuration: read from the environment once, at start, with every problem listed together.

import { isLoopbackHost } from '../client/index.js';
import type { Pkcs11EnvConfig } from '../vault/index.js';
import {
  checkExposure,
  checkTokens,
  EXPOSURE_ENV_VARS,
  type ExposureSettings,
  readExposureSettings,
} from './config-exposure.js';
import { PKCS11_ENV_VARS, readMasterKeySource } from './config-master-key.js';

/** `dev` relaxes what only matters off one machine (tokens optional on loopback); `production` insists. */
export type Mode = 'dev' | 'production';

/** The service's configuration, as {@link parseConfig} reads it from the environment (frozen). */
export interface ServiceConfig extends ExposureSettings {
  mode: Mode;
  host: string;
  port: number;
  /** Where browsers reach the service; decides cookie security and the OAuth callback URL. */
  publicUrl: string;
  /** `production`, `noon-sandbox`, or `local` (our sandbox at `noonLocalUrl`), or `custom`. */
  noonEnv: 'production' | 'noon-sandbox' | 'local' | 'custom';
  noonLocalUrl: string | undefined;
  noonAuthorizeUrl: string | undefined;
  noonGatewayUrl: string | undefined;
  clientId: string;
  clientSecret: string;
  /** The integrator's key file (path). */
  keyFile: string;
  /** `sqlite:<path>` / a path, or `postgres://…`. */
  storeUrl: string;
  /** Master key config: a base64 key, or JSON `{current, keys}`; or a file holding either. */
  masterKey: string | undefined;
  masterKeyFile: string | undefined;
  /** The PKCS#11 token holding the master key instead (the NOON_CONNECT_PKCS11_ variables). */
  pkcs11?: Pkcs11EnvConfig | undefined;
  /** Dashboard sign-in token; optional only in dev. */
  adminToken: string | undefined;
  /** Bearer token for the REST API; optional only in dev. */
  apiToken: string | undefined;
  webhookUrls: string[];
  webhookSecret: string | undefined;
  returnPaths: string[];
  userAgent: string;
  /** Pretty logs (dev) or JSON lines. */
  logFormat: 'pretty' | 'json';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  reconcileIntervalMs: number;
}

/** A configuration refused: `problems` lists every problem at once, each naming its variable, never its value. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`configuration problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Every variable the service reads, with what it is for (printed by `--help`). */
export const ENV_VARS: readonly [string, string][] = [
  ['NOON_CONNECT_MODE', 'dev or production (default production for serve)'],
  ['NOON_CONNECT_HOST', 'interface to bind (default 127.0.0.1)'],
  ['NOON_CONNECT_PORT', 'port (default 8787)'],
  [
    'NOON_CONNECT_PUBLIC_URL',
    'the URL browsers use, e.g. https://connect.example.com (required in production)',
  ],
  ['NOON_ENV', 'production | noon-sandbox | local | custom (default production)'],
  ['NOON_LOCAL_URL', 'the local sandbox origin when NOON_ENV=local'],
  ['NOON_AUTHORIZE_URL', 'consent page URL when NOON_ENV=custom'],
  ['NOON_GATEWAY_URL', 'gateway URL when NOON_ENV=custom'],
  ['NOON_CLIENT_ID', 'the OAuth client id (required)'],
  ['NOON_CLIENT_SECRET', 'the OAuth client secret (required)'],
  ['NOON_KEY_FILE', "path of the integrator's service-account key file (required)"],
  ['NOON_CONNECT_STORE', 'sqlite:<path> or postgres://… (default sqlite:.data/connect.db)'],
  ['NOON_CONNECT_MASTER_KEY', 'master key: base64 32 bytes, or JSON {"current","keys"}'],
  ['NOON_CONNECT_MASTER_KEY_FILE', 'file holding the master key instead'],
  ...PKCS11_ENV_VARS,
  ['NOON_CONNECT_ADMIN_TOKEN', 'dashboard sign-in token (required outside dev; at least 24 characters)'],
  ['NOON_CONNECT_API_TOKEN', 'bearer token for the REST API (required outside dev; at least 24 characters)'],
  ['NOON_CONNECT_WEBHOOK_URLS', 'comma-separated webhook endpoints'],
  ['NOON_CONNECT_WEBHOOK_SECRET', 'HMAC secret for webhook signatures (required with webhook URLs)'],
  ['NOON_CONNECT_RETURN_PATHS', 'comma-separated allowed return path prefixes (default /)'],
  ['NOON_CONNECT_USER_AGENT', 'User-Agent sent to Noon (default noon-connect/<version>)'],
  ['NOON_CONNECT_LOG', 'pretty or json (default: pretty in dev, json otherwise)'],
  ['NOON_CONNECT_LOG_LEVEL', 'debug | info | warn | error (default info)'],
  ['NOON_CONNECT_RECONCILE_INTERVAL_MS', 'how often the reconciler runs (default 60000)'],
  ...EXPOSURE_ENV_VARS,
];

const MODES = ['dev', 'production'] as const;
const NOON_ENVS = ['production', 'noon-sandbox', 'local', 'custom'] as const;

/** Words people use for a value, mapped to the value meant (`sandbox` is this package's own: `local`). */
const ALIASES: Readonly<Record<string, string>> = {
  sandbox: 'local',
  localhost: 'local',
  prod: 'production',
  development: 'dev',
  develop: 'dev',
  text: 'pretty',
  warning: 'warn',
};

/** The edit distance of two strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The candidate closest to `value` (case-insensitive), or undefined when none is close: within a third of the
 * longer word's length, at least 1 and at most 4 edits. A known alias wins.
 */
export function closest(value: string, candidates: readonly string[]): string | undefined {
  const v = value.trim().toLowerCase();
  const alias = ALIASES[v];
  if (alias && candidates.includes(alias)) return alias;
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(v, c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best === undefined) return undefined;
  const limit = Math.min(4, Math.max(1, Math.floor(Math.max(v.length, best.length) / 3)));
  return bestD <= limit ? best : undefined;
}

function didYouMean(value: string, candidates: readonly string[]): string {
  const c = closest(value, candidates);
  if (!c) return '';
  return c === 'local' && value.trim().toLowerCase() === 'sandbox'
    ? " (did you mean local? that is the noon-connect sandbox; noon-sandbox is Noon's own static sandbox)"
    : ` (did you mean ${c}?)`;
}

/** Prefixes of variables other parts read (tests, the sandbox), never a misspelling of a service variable. */
const OTHER_PREFIXES = ['NOON_CONNECT_TEST_', 'NOON_CONNECT_BENCH_'];

/**
 * One warning per `NOON_CONNECT_*` variable the service does not read, with the closest known name: a misspelt
 * variable is otherwise silently ignored. `known` adds names read elsewhere (e.g. a command's own variables).
 * Names only, never values.
 */
export function configWarnings(
  env: Record<string, string | undefined>,
  known: readonly string[] = [],
): string[] {
  const names = new Set([...ENV_VARS.map(([k]) => k), ...known]);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('NOON_CONNECT_') || names.has(name)) continue;
    if (OTHER_PREFIXES.some((p) => name.startsWith(p))) continue;
    const guess = closest(name, [...names]);
    out.push(
      `${name} is not a noon-connect variable and is ignored${guess ? ` (did you mean ${guess}?)` : ''}`,
    );
  }
  return out;
}

function httpsUnlessLoopback(url: string, what: string, problems: string[], production: boolean): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    problems.push(`${what} is not an absolute URL`);
    return;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') problems.push(`${what} must be http(s)`);
  else if (production && u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    problems.push(`${what} must use https in production (only loopback may use http)`);
  }
}

/** Only the origin of a URL that may carry credentials or tokens in its path or query. */
function safeOrigin(u: string): string {
  try {
    return new URL(u).origin;
  } catch {
    return '(not a URL)';
  }
}

/** Parses the environment; throws ConfigError listing every problem at once. */
export function parseConfig(
  env: Record<string, string | undefined>,
  defaults: Partial<ServiceConfig> = {},
): ServiceConfig {
  const problems: string[] = [];
  const get = (k: string): string | undefined => {
    const v = env[k];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const modeRaw = get('NOON_CONNECT_MODE') ?? defaults.mode ?? 'production';
  if (modeRaw !== 'dev' && modeRaw !== 'production')
    problems.push(`NOON_CONNECT_MODE must be dev or production${didYouMean(modeRaw, MODES)}`);
  const mode: Mode = modeRaw === 'dev' ? 'dev' : 'production';
  const production = mode === 'production';

  const portRaw = get('NOON_CONNECT_PORT');
  const port = portRaw === undefined ? (defaults.port ?? 8787) : Number(portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    problems.push('NOON_CONNECT_PORT must be an integer from 0 to 65535');
  const host = get('NOON_CONNECT_HOST') ?? defaults.host ?? '127.0.0.1';

  const noonEnv = (get('NOON_ENV') ?? defaults.noonEnv ?? 'production') as ServiceConfig['noonEnv'];
  const publicUrl =
    get('NOON_CONNECT_PUBLIC_URL') ??
    defaults.publicUrl ??
    (production ? undefined : `http://127.0.0.1:${port}`);
  if (!publicUrl) problems.push('NOON_CONNECT_PUBLIC_URL is required in production');
  // Against Noon production the connector refuses plain http off loopback whatever the mode (U12).
  else
    httpsUnlessLoopback(
      publicUrl,
      'NOON_CONNECT_PUBLIC_URL',
      problems,
      production || noonEnv === 'production',
    );
  if (!['production', 'noon-sandbox', 'local', 'custom'].includes(noonEnv))
    problems.push(
      `NOON_ENV must be production, noon-sandbox, local or custom${didYouMean(noonEnv, NOON_ENVS)}`,
    );
  const noonLocalUrl = get('NOON_LOCAL_URL') ?? defaults.noonLocalUrl;
  const noonAuthorizeUrl = get('NOON_AUTHORIZE_URL') ?? defaults.noonAuthorizeUrl;
  const noonGatewayUrl = get('NOON_GATEWAY_URL') ?? defaults.noonGatewayUrl;
  if (noonEnv === 'local') {
    if (!noonLocalUrl) problems.push('NOON_LOCAL_URL is required when NOON_ENV=local');
    else httpsUnlessLoopback(noonLocalUrl, 'NOON_LOCAL_URL', problems, true);
  }
  if (noonEnv === 'custom') {
    if (!noonAuthorizeUrl) problems.push('NOON_AUTHORIZE_URL is required when NOON_ENV=custom');
    else httpsUnlessLoopback(noonAuthorizeUrl, 'NOON_AUTHORIZE_URL', problems, true);
    if (!noonGatewayUrl) problems.push('NOON_GATEWAY_URL is required when NOON_ENV=custom');
    else httpsUnlessLoopback(noonGatewayUrl, 'NOON_GATEWAY_URL', problems, true);
  }

  const clientId = get('NOON_CLIENT_ID') ?? defaults.clientId;
  const clientSecret = get('NOON_CLIENT_SECRET') ?? defaults.clientSecret;
  const keyFile = get('NOON_KEY_FILE') ?? defaults.keyFile;
  if (!clientId) problems.push('NOON_CLIENT_ID is required');
  if (!clientSecret) problems.push('NOON_CLIENT_SECRET is required');
  if (!keyFile) problems.push('NOON_KEY_FILE is required');

  const storeUrl = get('NOON_CONNECT_STORE') ?? defaults.storeUrl ?? 'sqlite:.data/connect.db';
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+|[^:]+)$/.test(storeUrl))
    problems.push('NOON_CONNECT_STORE must be sqlite:<path>, a path, or postgres://…');

  const { masterKey, masterKeyFile, pkcs11 } = readMasterKeySource(env, defaults, problems);

  const adminToken = get('NOON_CONNECT_ADMIN_TOKEN') ?? defaults.adminToken;
  const apiToken = get('NOON_CONNECT_API_TOKEN') ?? defaults.apiToken;
  if (production && !adminToken) problems.push('NOON_CONNECT_ADMIN_TOKEN is required outside dev');
  if (production && !apiToken) problems.push('NOON_CONNECT_API_TOKEN is required outside dev');
  checkTokens(adminToken, apiToken, problems);
  checkExposure({ mode, host, publicUrl, noonEnv, adminToken, apiToken }, problems);

  const webhookUrls = (get('NOON_CONNECT_WEBHOOK_URLS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const webhookSecret = get('NOON_CONNECT_WEBHOOK_SECRET') ?? defaults.webhookSecret;
  for (const w of webhookUrls)
    httpsUnlessLoopback(
      w,
      `webhook URL at ${safeOrigin(w)}`,
      problems,
      production || noonEnv === 'production',
    );
  if (webhookUrls.length > 0 && (!webhookSecret || webhookSecret.length < 16)) {
    problems.push('NOON_CONNECT_WEBHOOK_SECRET (at least 16 characters) is required with webhook URLs');
  }

  const returnPaths = (get('NOON_CONNECT_RETURN_PATHS') ?? '/')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const p of returnPaths)
    if (!p.startsWith('/') || p.startsWith('//'))
      problems.push(`return path ${p.slice(0, 40)} must be an absolute path`);

  const logRaw = get('NOON_CONNECT_LOG') ?? (mode === 'dev' ? 'pretty' : 'json');
  if (logRaw !== 'pretty' && logRaw !== 'json')
    problems.push(`NOON_CONNECT_LOG must be pretty or json${didYouMean(logRaw, ['pretty', 'json'])}`);
  const levelRaw = get('NOON_CONNECT_LOG_LEVEL') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(levelRaw))
    problems.push(
      `NOON_CONNECT_LOG_LEVEL must be debug, info, warn or error${didYouMean(levelRaw, ['debug', 'info', 'warn', 'error'])}`,
    );
  const intervalRaw = get('NOON_CONNECT_RECONCILE_INTERVAL_MS');
  const reconcileIntervalMs = intervalRaw === undefined ? 60_000 : Number(intervalRaw);
  if (!Number.isInteger(reconcileIntervalMs) || reconcileIntervalMs < 1000)
    problems.push('NOON_CONNECT_RECONCILE_INTERVAL_MS must be an integer ≥ 1000');

  const exposure = readExposureSettings(get, problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    ...exposure,
    mode,
    host,
    port,
    publicUrl: publicUrl!.replace(/\/+$/, ''),
    noonEnv,
    noonLocalUrl,
    noonAuthorizeUrl,
    noonGatewayUrl,
    clientId: clientId!,
    clientSecret: clientSecret!,
    keyFile: keyFile!,
    storeUrl,
    masterKey,
    masterKeyFile,
    pkcs11,
    adminToken,
    apiToken,
    webhookUrls,
    webhookSecret,
    returnPaths,
    userAgent: get('NOON_CONNECT_USER_AGENT') ?? 'noon-connect/0.1',
    logFormat: logRaw as 'pretty' | 'json',
    logLevel: levelRaw as ServiceConfig['logLevel'],
    reconcileIntervalMs,
  }) as ServiceConfig;
}
