// The part of the configuration that decides what the internet (and a careless deployment) can reach: the
// tokens' strength, when dev mode may run without them, the bind address against the public URL, connect link
// limits, trusted proxy hops, retention and HSTS. Read with the rest of the configuration, problems listed
// together, never a value.

import { isLoopbackHost } from '../client/index.js';
import { intSetting, readScaleSettings, SCALE_ENV_VARS, type ScaleSettings } from './config-scale.js';

/** The settings this part reads (see {@link EXPOSURE_ENV_VARS}). */
/** Also carries the scale settings (config-scale.ts), read and listed with these. */
export interface ExposureSettings extends ScaleSettings {
  /** How long a new connect link stays valid. */
  linkTtlMs: number;
  /** How many starts one connect link allows (1: single use, the default). */
  linkMaxStarts: number;
  /** `/connect/start` requests one client address may make per minute. */
  startLimitPerMinute: number;
  /** Proxies in front of the service whose `X-Forwarded-For` entry is trusted (0: the socket's address). */
  trustedProxies: number;
  /** Ended attempts, delivered events and deliveries older than this are purged. */
  retentionMs: number;
  /** `Strict-Transport-Security` max-age when the public URL is https (0: not sent). */
  hstsMaxAge: number;
}

export const EXPOSURE_ENV_VARS: readonly [string, string][] = [
  ['NOON_CONNECT_LINK_TTL_MS', 'how long a connect link stays valid (default 600000: 10 minutes)'],
  ['NOON_CONNECT_LINK_MAX_STARTS', 'starts one connect link allows (default 1: single use)'],
  ['NOON_CONNECT_START_LIMIT', '/connect/start requests per client address per minute (default 30)'],
  ['NOON_CONNECT_TRUSTED_PROXIES', 'proxy hops whose X-Forwarded-For entry is trusted (default 0)'],
  [
    'NOON_CONNECT_RETENTION_DAYS',
    'days ended attempts, delivered events and deliveries are kept (default 30)',
  ],
  [
    'NOON_CONNECT_HSTS_MAX_AGE',
    'Strict-Transport-Security max-age with an https public URL (default 31536000; 0 = off)',
  ],
  ...SCALE_ENV_VARS,
];

const DAY_MS = 86_400_000;

/**
 * A character-frequency estimate of a secret's entropy in bits (length × Shannon entropy of its characters).
 * It overestimates structured strings a little and underestimates nothing random, which is what a floor needs.
 */
export function estimatedBits(secret: string): number {
  const counts = new Map<string, number>();
  const chars = [...secret];
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

/** A string made of one shorter unit repeated (`abcabcabc…`, `password1password1…`). */
function periodic(s: string): boolean {
  for (let unit = 1; unit <= s.length / 2; unit++)
    if (s.length % unit === 0 && s.slice(0, unit).repeat(s.length / unit) === s) return true;
  return false;
}

/**
 * Bits a token's unguessable part must show by {@link estimatedBits}. Of 300,000 random 24-character hex tokens
 * none showed under 47 (random base64 shows far more), while hand-made ones such as
 * `my-admin-token-for-prod-2026` show under 40 once their words and sequences are taken out.
 */
export const MIN_TOKEN_BITS = 44;

/** Words people put in hand-made tokens; a token's guessable parts are left out before its entropy is judged. */
const GUESSABLE_WORDS = [
  'password',
  'passw0rd',
  'changeme',
  'change-me',
  'secret',
  'admin',
  'token',
  'letmein',
  'welcome',
  'qwerty',
  'production',
  'prod',
  'staging',
  'test',
  'noon',
  'connect',
  'default',
  'example',
  'api',
  'key',
];
const KEYBOARD_ROWS = ['1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm'];

/** Whether four characters follow each other in code points (`abcd`, `4321`) or along a keyboard row (`qwer`). */
function sequential(run: string[]): boolean {
  const codes = run.map((c) => c.codePointAt(0) ?? 0);
  const steps = codes.slice(1).map((c, i) => c - codes[i]!);
  if (steps.every((d) => d === 1) || steps.every((d) => d === -1)) return true;
  const text = run.join('');
  const reversed = [...run].reverse().join('');
  return KEYBOARD_ROWS.some((row) => row.includes(text) || row.includes(reversed));
}

/**
 * What is left of a token once its guessable parts are taken out: common words and runs of
 * four or more characters in sequence or along a keyboard row. A random token loses a character or two to this;
 * `my-admin-token-for-prod-2026` or `qwertyuiopasdfghjklzxcvb` lose nearly everything.
 */
export function unguessablePart(token: string): string {
  let s = token.toLowerCase();
  for (const w of GUESSABLE_WORDS) s = s.split(w).join('\u0000');

  const chars = [...s];
  const drop = new Array<boolean>(chars.length).fill(false);
  for (let i = 0; i + 3 < chars.length; i++) if (sequential(chars.slice(i, i + 4))) drop.fill(true, i, i + 4);
  return chars.filter((c, i) => !drop[i] && c !== '\u0000').join('');
}

/**
 * Whether a token has real entropy: not periodic, and at least {@link MIN_TOKEN_BITS} estimated bits in what is
 * left once its guessable parts (words, sequences) are taken out.
 */
export function strongToken(token: string): boolean {
  return !periodic(token) && estimatedBits(unguessablePart(token)) >= MIN_TOKEN_BITS;
}

/** The admin and API tokens: long, random-looking and different from each other. */
export function checkTokens(
  adminToken: string | undefined,
  apiToken: string | undefined,
  problems: string[],
): void {
  for (const [k, v] of [
    ['NOON_CONNECT_ADMIN_TOKEN', adminToken],
    ['NOON_CONNECT_API_TOKEN', apiToken],
  ] as const) {
    if (v === undefined) continue;
    if (v.length < 24) problems.push(`${k} must be at least 24 characters`);
    else if (!strongToken(v))
      problems.push(`${k} is too easy to guess: use random characters, e.g. \`openssl rand -base64 32\``);
  }
  if (adminToken !== undefined && adminToken === apiToken)
    problems.push('NOON_CONNECT_ADMIN_TOKEN and NOON_CONNECT_API_TOKEN must differ');
}

/**
 * Where the service may listen. Without tokens, dev mode guards the dashboard and the API with a secret made at
 * each start, and runs only where nothing but this machine reaches it: bound to loopback, reached through a
 * loopback public URL, never against Noon production. In every mode, a bind beyond loopback needs an https
 * public URL (a TLS-terminating proxy in front), or tokens and cookies would cross the network in clear.
 */
export function checkExposure(
  c: {
    mode: 'dev' | 'production';
    host: string;
    publicUrl: string | undefined;
    noonEnv: string;
    adminToken: string | undefined;
    apiToken: string | undefined;
  },
  problems: string[],
): void {
  let publicUrl: URL | undefined;
  try {
    publicUrl = c.publicUrl === undefined ? undefined : new URL(c.publicUrl);
  } catch {
    publicUrl = undefined;
  }
  if (c.mode === 'dev' && (c.adminToken === undefined || c.apiToken === undefined)) {
    const without = 'dev mode without NOON_CONNECT_ADMIN_TOKEN and NOON_CONNECT_API_TOKEN';
    if (!isLoopbackHost(c.host))
      problems.push(
        `${without} listens only on loopback: NOON_CONNECT_HOST must be 127.0.0.1, ::1 or localhost`,
      );
    if (publicUrl && !isLoopbackHost(publicUrl.hostname))
      problems.push(`${without} needs a loopback NOON_CONNECT_PUBLIC_URL (e.g. http://127.0.0.1:8787)`);
    if (c.noonEnv === 'production') problems.push(`${without} cannot run against NOON_ENV=production`);
  }
  if (publicUrl?.protocol === 'http:' && !isLoopbackHost(c.host))
    problems.push(
      'NOON_CONNECT_HOST is not loopback, so NOON_CONNECT_PUBLIC_URL must be https (put a TLS-terminating proxy in front)',
    );
}

/** Reads the link, limit, proxy, retention and HSTS settings. */
export function readExposureSettings(
  get: (name: string) => string | undefined,
  problems: string[],
): ExposureSettings {
  const int = intSetting(get, problems);
  return {
    ...readScaleSettings(get, problems),
    linkTtlMs: int('NOON_CONNECT_LINK_TTL_MS', 10 * 60_000, 60_000, 7 * DAY_MS),
    linkMaxStarts: int('NOON_CONNECT_LINK_MAX_STARTS', 1, 1, 100),
    startLimitPerMinute: int('NOON_CONNECT_START_LIMIT', 30, 1, 100_000),
    trustedProxies: int('NOON_CONNECT_TRUSTED_PROXIES', 0, 0, 10),
    retentionMs: int('NOON_CONNECT_RETENTION_DAYS', 30, 1, 3650) * DAY_MS,
    hstsMaxAge: int('NOON_CONNECT_HSTS_MAX_AGE', 31_536_000, 0, 63_072_000),
  };
}
