// Scripted faults: per endpoint, once / N times / always / a fraction of calls. Each fault either replaces the
// endpoint's work (the upstream did nothing) or runs it first and then spoils the answer (`commit`), which is
// how "processed upstream, response lost" is staged. `hang`, `reset` and `trickle` without commit withhold, cut
// or slow a stand-in 503 instead of the endpoint's answer. Specs are validated and copied field by field, since
// the admin API takes them from the network.

export type FaultAction =
  | { type: 'status'; status: number; body?: unknown; headers?: Record<string, string>; commit?: boolean }
  | { type: 'latency'; ms: number }
  | { type: 'hang'; commit?: boolean }
  | { type: 'reset'; commit?: boolean }
  | { type: 'commit-then-drop' }
  | { type: 'malformed'; body: MalformedBody; commit?: boolean }
  | { type: 'mutate'; set?: Record<string, unknown>; drop?: string[] }
  | { type: 'trickle'; intervalMs?: number; commit?: boolean }
  | { type: 'rate-limit'; retryAfter?: number }
  | { type: 'redirect'; location: string; status?: 301 | 302 | 303 | 307 | 308 }
  | { type: 'expire' };

export const MALFORMED_BODIES = [
  'html',
  'truncated',
  'null',
  'array',
  'empty',
  'wrong-types',
  'oversize',
  'invalid-utf8',
  'open-brace',
] as const;
export type MalformedBody = (typeof MALFORMED_BODIES)[number];

export const ENDPOINTS = [
  'login',
  'whoami',
  'token.create',
  'token.exchange',
  'api_users.create',
  'api_users.list',
  'api_users.remove',
  'catalog.items',
  'consent',
] as const;
export type EndpointName = (typeof ENDPOINTS)[number];

export interface FaultSpec {
  endpoint: EndpointName | '*';
  action: FaultAction;
  /** How many matching calls it affects (default 1). */
  times?: number;
  /** Affects every matching call until cleared. */
  always?: boolean;
  /** Probability, 0..1, that a matching call is affected (default 1). */
  fraction?: number;
  /**
   * Only calls about this seller project (its code, access token or session; see subject.ts), so runs that share
   * one sandbox each script their own faults.
   */
  sellerProject?: string;
}

export interface ActiveFault extends FaultSpec {
  id: string;
  remaining: number;
  triggered: number;
}

const ACTION_TYPES = new Set([
  'status',
  'latency',
  'hang',
  'reset',
  'commit-then-drop',
  'malformed',
  'mutate',
  'trickle',
  'rate-limit',
  'redirect',
  'expire',
]);

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** RFC 9110 token characters: what node:http accepts as a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A header value node:http will write: no CR, LF or NUL (those would split or truncate the header). */
const HEADER_VALUE = /^[^\r\n\0]*$/;
/** Path segments that would reach an object's prototype instead of its own fields. */
const UNSAFE_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function optionalBoolean(a: Record<string, unknown>, field: string): boolean | undefined {
  const v = a[field];
  if (v !== undefined && typeof v !== 'boolean')
    throw new TypeError(`fault.action.${field} must be a boolean`);
  return v;
}

function optionalInteger(
  a: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const v = a[field];
  if (v === undefined) return undefined;
  if (!(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) {
    throw new TypeError(`fault.action.${field} must be an integer from ${min} to ${max}`);
  }
  return v as number;
}

/** A dotted path for `mutate`; refused when a segment is empty or would reach a prototype. */
function fieldPath(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '' || v.length > 256)
    throw new TypeError(`${what} must be a dotted path`);
  for (const seg of v.split('.')) {
    if (seg === '' || UNSAFE_SEGMENTS.has(seg))
      throw new TypeError(`${what} has a bad segment: ${seg || '(empty)'}`);
  }
  return v;
}

/** Copies the action's known fields only, so a caller's later edits never change an active fault. */
function parseAction(input: unknown): FaultAction {
  if (!isPlainObject(input) || !ACTION_TYPES.has(String(input.type))) {
    throw new TypeError(`fault.action.type must be one of ${[...ACTION_TYPES].join(', ')}`);
  }
  const a = input;
  const commit = optionalBoolean(a, 'commit');
  const withCommit = <T extends object>(o: T) => (commit === undefined ? o : { ...o, commit });
  switch (a.type) {
    case 'status': {
      // 1xx answers are not final responses; a client would wait for the real one that never comes.
      const status = optionalInteger(a, 'status', 200, 599);
      if (status === undefined) throw new TypeError('fault.action.status must be an integer from 200 to 599');
      let headers: Record<string, string> | undefined;
      if (a.headers !== undefined) {
        if (!isPlainObject(a.headers)) throw new TypeError('fault.action.headers must be an object');
        headers = {};
        for (const [k, v] of Object.entries(a.headers)) {
          if (!HEADER_NAME.test(k))
            throw new TypeError(`fault.action.headers has a bad header name: ${k.slice(0, 64)}`);
          if (typeof v !== 'string' || !HEADER_VALUE.test(v) || v.length > 8192) {
            throw new TypeError(`fault.action.headers.${k} must be a string without CR, LF or NUL`);
          }
          headers[k.toLowerCase()] = v;
        }
      }
      return withCommit({
        type: 'status' as const,
        status,
        ...(a.body !== undefined ? { body: structuredClone(a.body) } : {}),
        ...(headers ? { headers } : {}),
      });
    }
    case 'latency': {
      if (!(typeof a.ms === 'number' && a.ms >= 0 && a.ms <= 600_000))
        throw new TypeError('fault.action.ms must be 0..600000');
      return { type: 'latency', ms: a.ms };
    }
    case 'hang':
      return withCommit({ type: 'hang' as const });
    case 'reset':
      return withCommit({ type: 'reset' as const });
    case 'commit-then-drop':
      return { type: 'commit-then-drop' };
    case 'malformed':
      if (!(MALFORMED_BODIES as readonly unknown[]).includes(a.body)) {
        throw new TypeError(`fault.action.body must be one of ${MALFORMED_BODIES.join(', ')}`);
      }
      return withCommit({ type: 'malformed' as const, body: a.body as MalformedBody });
    case 'mutate': {
      if (a.set !== undefined && !isPlainObject(a.set))
        throw new TypeError('fault.action.set must be an object');
      if (a.drop !== undefined && !Array.isArray(a.drop))
        throw new TypeError('fault.action.drop must be an array of dotted paths');
      const set: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(a.set ?? {}))
        set[fieldPath(k, 'fault.action.set key')] = structuredClone(v);
      const drop = ((a.drop as unknown[] | undefined) ?? []).map((p) =>
        fieldPath(p, 'fault.action.drop entry'),
      );
      return { type: 'mutate', set, drop };
    }
    case 'trickle': {
      const intervalMs = optionalInteger(a, 'intervalMs', 1, 60_000);
      return withCommit({ type: 'trickle' as const, ...(intervalMs !== undefined ? { intervalMs } : {}) });
    }
    case 'rate-limit': {
      const retryAfter = optionalInteger(a, 'retryAfter', 0, 86_400);
      return { type: 'rate-limit', ...(retryAfter !== undefined ? { retryAfter } : {}) };
    }
    case 'redirect': {
      if (
        typeof a.location !== 'string' ||
        a.location === '' ||
        !HEADER_VALUE.test(a.location) ||
        a.location.length > 2048
      ) {
        throw new TypeError('fault.action.location must be a non-empty string without CR, LF or NUL');
      }
      if (a.status !== undefined && !REDIRECT_STATUSES.has(a.status as number)) {
        throw new TypeError(`fault.action.status must be one of ${[...REDIRECT_STATUSES].join(', ')}`);
      }
      return {
        type: 'redirect',
        location: a.location,
        ...(a.status !== undefined ? { status: a.status as 301 | 302 | 303 | 307 | 308 } : {}),
      };
    }
    case 'expire':
      return { type: 'expire' };
    default:
      throw new TypeError(`fault.action.type must be one of ${[...ACTION_TYPES].join(', ')}`);
  }
}

/** Endpoints whose code or access token the `expire` action can age. */
const EXPIRABLE = new Set(['token.create', 'token.exchange']);
const PROJECT_CODE = /^[A-Za-z0-9_-]{1,64}$/;

/** Validates a fault description from the admin API or an in-process caller, naming the first bad field. */
export function parseFaultSpec(input: unknown): FaultSpec {
  if (!isPlainObject(input)) throw new TypeError('fault must be an object');
  const s = input;
  const endpoint = s.endpoint;
  if (endpoint !== '*' && !(ENDPOINTS as readonly unknown[]).includes(endpoint)) {
    throw new TypeError(`fault.endpoint must be one of ${['*', ...ENDPOINTS].join(', ')}`);
  }
  const action = parseAction(s.action);
  if (s.times !== undefined && !(Number.isInteger(s.times) && (s.times as number) >= 1)) {
    throw new TypeError('fault.times must be a positive integer');
  }
  if (s.fraction !== undefined && !(typeof s.fraction === 'number' && s.fraction > 0 && s.fraction <= 1)) {
    throw new TypeError('fault.fraction must be in (0, 1]');
  }
  if (s.always !== undefined && typeof s.always !== 'boolean')
    throw new TypeError('fault.always must be a boolean');
  if (
    s.sellerProject !== undefined &&
    !(typeof s.sellerProject === 'string' && PROJECT_CODE.test(s.sellerProject))
  )
    throw new TypeError(`fault.sellerProject must match ${PROJECT_CODE}`);
  if (action.type === 'expire' && !EXPIRABLE.has(endpoint as string))
    throw new TypeError('fault.action expire applies to token.create and token.exchange only');
  const spec: FaultSpec = { endpoint: endpoint as FaultSpec['endpoint'], action };
  if (s.times !== undefined) spec.times = s.times as number;
  if (s.fraction !== undefined) spec.fraction = s.fraction as number;
  if (s.always !== undefined) spec.always = s.always as boolean;
  if (s.sellerProject !== undefined) spec.sellerProject = s.sellerProject as string;
  return spec;
}

export class Faults {
  readonly #active: ActiveFault[] = [];
  readonly #random: () => number;
  #seq = 0;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** Adds a fault; returns its id. */
  add(spec: FaultSpec): string {
    const parsed = parseFaultSpec(spec);
    const id = `fault-${++this.#seq}`;
    this.#active.push({
      ...parsed,
      id,
      remaining: parsed.always ? Number.POSITIVE_INFINITY : (parsed.times ?? 1),
      triggered: 0,
    });
    return id;
  }

  list(): ActiveFault[] {
    return this.#active.map((f) => ({ ...f }));
  }

  remove(id: string): boolean {
    const i = this.#active.findIndex((f) => f.id === id);
    if (i < 0) return false;
    this.#active.splice(i, 1);
    return true;
  }

  clear(): void {
    this.#active.length = 0;
  }

  /** The fault to apply to this call, if any (first match wins; it is used up as it triggers). */
  take(endpoint: EndpointName, sellerProject?: string): FaultAction | undefined {
    for (let i = 0; i < this.#active.length; i++) {
      const f = this.#active[i]!;
      if (f.endpoint !== '*' && f.endpoint !== endpoint) continue;
      if (f.sellerProject !== undefined && f.sellerProject !== sellerProject) continue;
      if (f.fraction !== undefined && this.#random() >= f.fraction) continue;
      f.triggered++;
      f.remaining--;
      if (f.remaining <= 0) this.#active.splice(i, 1);
      return f.action;
    }
    return undefined;
  }
}

/** Whether the endpoint's real work runs before the fault spoils the answer. */
export function faultCommits(a: FaultAction): boolean {
  switch (a.type) {
    case 'commit-then-drop':
    case 'mutate':
    case 'expire':
      return true;
    case 'reset':
    case 'trickle':
      return a.commit ?? true;
    case 'status':
    case 'hang':
    case 'malformed':
      return a.commit ?? false;
    default:
      return false;
  }
}

/** Applies `set` and `drop` (dotted paths) to a JSON body. */
export function mutateJson(body: string, set: Record<string, unknown> = {}, drop: string[] = []): string {
  const value: unknown = JSON.parse(body);
  for (const [path, v] of Object.entries(set)) setPath(value, path.split('.'), v);
  for (const path of drop) setPath(value, path.split('.'), undefined, true);
  return JSON.stringify(value);
}

function setPath(root: unknown, parts: string[], v: unknown, remove = false): void {
  // A body that is not an object (null, a string) has no fields to set; leave it as it is.
  if (root === null || typeof root !== 'object') return;
  if (parts.some((p) => UNSAFE_SEGMENTS.has(p))) return;
  let node = root as Record<string, unknown>;
  for (let i = 0; i < parts.length - 1; i++) {
    const seg = parts[i]!;
    const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
    if (next === null || typeof next !== 'object') {
      if (remove) return;
      node[seg] = {};
    }
    node = node[seg] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (remove) delete node[last];
  else node[last] = v;
}

/** Bodies for the `malformed` fault. */
export function malformedBody(kind: MalformedBody): { body: Buffer; contentType: string } {
  switch (kind) {
    case 'html':
      return {
        body: Buffer.from('<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>'),
        contentType: 'text/html',
      };
    case 'truncated':
      return { body: Buffer.from('{"access_token": "eyJ'), contentType: 'application/json' };
    case 'open-brace':
      return { body: Buffer.from('{"'), contentType: 'application/json' };
    case 'null':
      return { body: Buffer.from('null'), contentType: 'application/json' };
    case 'array':
      return { body: Buffer.from('[]'), contentType: 'application/json' };
    case 'empty':
      return { body: Buffer.alloc(0), contentType: 'application/json' };
    case 'wrong-types':
      return {
        body: Buffer.from(
          JSON.stringify({
            access_token: 42,
            token_type: ['TOKEN_TYPE_BEARER'],
            expires_in: { seconds: 3600 },
            scopes: 'access:grant',
            project_code: 12345,
            status: { code: '0' },
            result: 'key',
          }),
        ),
        contentType: 'application/json',
      };
    case 'oversize':
      return {
        body: Buffer.from(`{"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`),
        contentType: 'application/json',
      };
    case 'invalid-utf8':
      return {
        body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
        contentType: 'application/json',
      };
  }
}
