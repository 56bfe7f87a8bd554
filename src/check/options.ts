// The checker's options: copied, validated and frozen once, so a run never reads a caller's later edits.

import { CHECK_IDS, type SuccessCriterion } from './types.js';

export interface CheckOptions {
  /** Where a seller starts connecting, e.g. http://127.0.0.1:8000/connect/start. */
  start: string;
  /** The callback the application registers; default: `callback` beside the start path. */
  callback?: string;
  /** An existing sandbox's origin; default: start one in process. */
  sandbox?: string;
  /** Bearer token for that sandbox's admin API. */
  sandboxToken?: string;
  /** Port of the sandbox this run starts (default 8788, as `noon-connect sandbox`; 0 picks a free one). */
  sandboxPort?: number;
  /** Where the started sandbox writes the integrator's key file. */
  keyFile?: string;
  /** Folder that keeps RSA keys ready across runs (the started sandbox's key cache). */
  keyCacheDir?: string;
  /** The OAuth client to use (with `sandbox`: an existing one; else the id the started sandbox gives it). */
  clientId?: string;
  /** The client secret the started sandbox gives the client (default: a fresh one). */
  clientSecret?: string;
  /** Extra request headers for the application (the integrator's signed-in user). */
  headers?: Record<string, string>;
  /** Cookies (`name=value`) the seller's browser starts with at the application. */
  cookies?: string[];
  success?: Partial<SuccessCriterion>;
  /** Deadline for each request to the application (default 15 s). */
  timeoutMs?: number;
  /** Deadline for each check (default 120 s). */
  checkTimeoutMs?: number;
  /** How long to wait for the application to accept connections (default 30 s). */
  waitMs?: number;
  /** Longest time from token/create to token/exchange that passes (default 10 s). */
  maxExchangeDelayMs?: number;
  /** Check or case ids to run (a check id selects all its cases). */
  only?: string[];
  skip?: string[];
  /** The application's log files, searched for secrets after the run. */
  logFiles?: string[];
  /** A shell command that starts the application, given its configuration as environment variables. */
  exec?: string;
  /** Also run the happy path in a real Chromium. */
  browser?: boolean;
  chromiumPath?: string;
  /** Require the application to log in with the credential it received. */
  verifyLogin?: boolean;
}

export interface ResolvedOptions {
  readonly start: URL;
  readonly callback: URL;
  readonly sandbox: string | undefined;
  readonly sandboxToken: string | undefined;
  readonly sandboxPort: number;
  readonly keyFile: string | undefined;
  readonly keyCacheDir: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly cookies: readonly string[];
  readonly success: SuccessCriterion;
  readonly timeoutMs: number;
  readonly checkTimeoutMs: number;
  readonly waitMs: number;
  readonly maxExchangeDelayMs: number;
  readonly only: readonly string[];
  readonly skip: readonly string[];
  readonly logFiles: readonly string[];
  readonly exec: string | undefined;
  readonly browser: boolean;
  readonly chromiumPath: string | undefined;
  readonly verifyLogin: boolean;
}

/**
 * The default success criterion: the page the seller lands on answers 2xx and says connected or success, and
 * says nothing of failure. docs/check.md repeats it; keep them together.
 */
export const DEFAULT_SUCCESS: SuccessCriterion = Object.freeze({
  status: Object.freeze(['2xx']),
  url: null,
  body: /\b(connected|success|successful|successfully|succeeded)\b/i,
  notBody:
    /\b(not connected|fail|failed|failure|error|denied|refused|invalid|expired|unable|could not|cannot|try again)\b/i,
});

const STATUS_ITEM = /^([1-5]xx|[1-5]\d\d)$/;

export function parseStatusList(v: string): string[] {
  const items = v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (items.length === 0 || !items.every((s) => STATUS_ITEM.test(s)))
    throw new TypeError('success status must be a comma-separated list of codes or classes such as 2xx,302');
  return items;
}

function httpUrl(v: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new TypeError(`${what} must be an absolute URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`${what} must be http or https`);
  return u;
}

function positive(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v <= 0) throw new TypeError(`${what} must be a positive integer (ms)`);
  return v;
}

/** Ids that select something: a check id, or a case id `<check>.<case>` of a known check. */
function selectors(list: string[] | undefined, what: string): string[] {
  const out = [...(list ?? [])];
  for (const id of out) {
    const check = id.split('.')[0]!;
    if (!(CHECK_IDS as readonly string[]).includes(check))
      throw new TypeError(`${what}: unknown check '${id}' (known: ${CHECK_IDS.join(', ')})`);
  }
  return out;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COOKIE_PAIR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+=[^;\s]*$/;

export function resolveOptions(o: CheckOptions): ResolvedOptions {
  const start = httpUrl(o.start, 'start');
  const callback = httpUrl(o.callback ?? new URL('callback', start).toString(), 'callback');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (!HEADER_NAME.test(k) || /[\r\n\0]/.test(v))
      throw new TypeError(`header ${k.slice(0, 40)} is not valid`);
    headers[k.toLowerCase()] = v;
  }
  for (const c of o.cookies ?? [])
    if (!COOKIE_PAIR.test(c)) throw new TypeError('a cookie must be name=value without spaces or ;');
  if (o.sandbox !== undefined) httpUrl(o.sandbox, 'sandbox');
  const port = o.sandboxPort ?? 8788;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new TypeError('sandbox port must be an integer from 0 to 65535');
  const success: SuccessCriterion = Object.freeze({
    status: Object.freeze([...(o.success?.status ?? DEFAULT_SUCCESS.status)]),
    url: o.success?.url !== undefined ? o.success.url : DEFAULT_SUCCESS.url,
    body: o.success?.body !== undefined ? o.success.body : DEFAULT_SUCCESS.body,
    notBody: o.success?.notBody !== undefined ? o.success.notBody : DEFAULT_SUCCESS.notBody,
  });
  return Object.freeze({
    start,
    callback,
    sandbox: o.sandbox?.replace(/\/+$/, ''),
    sandboxToken: o.sandboxToken,
    sandboxPort: port,
    keyFile: o.keyFile,
    keyCacheDir: o.keyCacheDir,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    headers: Object.freeze(headers),
    cookies: Object.freeze([...(o.cookies ?? [])]),
    success,
    timeoutMs: positive(o.timeoutMs, 15_000, 'timeout'),
    checkTimeoutMs: positive(o.checkTimeoutMs, 120_000, 'check timeout'),
    waitMs: positive(o.waitMs, 30_000, 'wait'),
    maxExchangeDelayMs: positive(o.maxExchangeDelayMs, 10_000, 'max exchange delay'),
    only: Object.freeze(selectors(o.only, 'only')),
    skip: Object.freeze(selectors(o.skip, 'skip')),
    logFiles: Object.freeze([...(o.logFiles ?? [])]),
    exec: o.exec,
    browser: o.browser ?? false,
    chromiumPath: o.chromiumPath,
    verifyLogin: o.verifyLogin ?? false,
  });
}

/** Whether a check or case id is selected by --only / --skip (a check id covers its cases). */
export function selected(o: Pick<ResolvedOptions, 'only' | 'skip'>, id: string): boolean {
  const covers = (sel: string) => sel === id || id.startsWith(`${sel}.`) || sel.startsWith(`${id}.`);
  const exactlyCovers = (sel: string) => sel === id || id.startsWith(`${sel}.`);
  if (o.only.length > 0 && !o.only.some(covers)) return false;
  return !o.skip.some(exactlyCovers);
}
