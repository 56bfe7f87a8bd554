// Scripted faults: per endpoint, once / N times / always / a fraction of calls. Each fault either replaces the
// endpoint's work (the upstream did nothing) or runs it first and then spoils the answer (`commit`), which is
// how "processed upstream, response lost" is staged.

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
  | { type: 'redirect'; location: string; status?: 301 | 302 | 303 | 307 | 308 };

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
]);

/** Validates a fault description from the admin API or an in-process caller. */
export function parseFaultSpec(input: unknown): FaultSpec {
  if (input === null || typeof input !== 'object') throw new TypeError('fault must be an object');
  const s = input as Record<string, unknown>;
  const endpoint = s.endpoint;
  if (endpoint !== '*' && !(ENDPOINTS as readonly unknown[]).includes(endpoint)) {
    throw new TypeError(`fault.endpoint must be one of ${['*', ...ENDPOINTS].join(', ')}`);
  }
  const action = s.action as Record<string, unknown> | undefined;
  if (!action || typeof action !== 'object' || !ACTION_TYPES.has(String(action.type))) {
    throw new TypeError(`fault.action.type must be one of ${[...ACTION_TYPES].join(', ')}`);
  }
  if (
    action.type === 'status' &&
    !(Number.isInteger(action.status) && (action.status as number) >= 100 && (action.status as number) < 600)
  ) {
    throw new TypeError('fault.action.status must be an HTTP status');
  }
  if (
    action.type === 'latency' &&
    !(typeof action.ms === 'number' && action.ms >= 0 && action.ms <= 600_000)
  ) {
    throw new TypeError('fault.action.ms must be 0..600000');
  }
  if (action.type === 'malformed' && !(MALFORMED_BODIES as readonly unknown[]).includes(action.body)) {
    throw new TypeError(`fault.action.body must be one of ${MALFORMED_BODIES.join(', ')}`);
  }
  if (action.type === 'redirect' && typeof action.location !== 'string') {
    throw new TypeError('fault.action.location must be a string');
  }
  if (s.times !== undefined && !(Number.isInteger(s.times) && (s.times as number) >= 1)) {
    throw new TypeError('fault.times must be a positive integer');
  }
  if (s.fraction !== undefined && !(typeof s.fraction === 'number' && s.fraction > 0 && s.fraction <= 1)) {
    throw new TypeError('fault.fraction must be in (0, 1]');
  }
  if (s.always !== undefined && typeof s.always !== 'boolean')
    throw new TypeError('fault.always must be a boolean');
  const spec: FaultSpec = {
    endpoint: endpoint as FaultSpec['endpoint'],
    action: action as unknown as FaultAction,
  };
  if (s.times !== undefined) spec.times = s.times as number;
  if (s.fraction !== undefined) spec.fraction = s.fraction as number;
  if (s.always !== undefined) spec.always = s.always as boolean;
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
  take(endpoint: EndpointName): FaultAction | undefined {
    for (let i = 0; i < this.#active.length; i++) {
      const f = this.#active[i]!;
      if (f.endpoint !== '*' && f.endpoint !== endpoint) continue;
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
  let node = root as Record<string, unknown>;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]!];
    if (next === null || typeof next !== 'object') {
      if (remove) return;
      node[parts[i]!] = {};
    }
    node = node[parts[i]!] as Record<string, unknown>;
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
