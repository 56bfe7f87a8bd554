// The secret search for connector tests: every secret a test handled (client secret, codes, states, access
// tokens, session cookies, login JWTs, PEM text) is looked for in every captured log line, error, URL and page.
// Secrets are harvested where they really travel: on the wire between the connector and Noon (a tapping fetch),
// from the sandbox fixtures, and from the states and codes the test itself handled.

import { inspect } from 'node:util';
import type { FetchLike } from '../../src/client/index.js';

export type SecretKind =
  | 'client secret'
  | 'code'
  | 'state'
  | 'access token'
  | 'session cookie'
  | 'login JWT'
  | 'PEM';

export interface Finding {
  /** Where the secret was found (a label of the captured text). */
  where: string;
  kind: SecretKind;
}

/** Shorter values could match ordinary text by chance; every real secret here is far longer. */
const MIN_SECRET_LENGTH = 12;

/** JSON fields on Noon's wire whose values are secrets, and what they are. */
const WIRE_FIELDS: Record<string, SecretKind> = {
  client_secret: 'client secret',
  code: 'code',
  access_token: 'access token',
  token: 'login JWT',
  private_key: 'PEM',
};

export class SecretSearch {
  readonly #secrets = new Map<string, SecretKind>();
  readonly #texts: { where: string; text: string }[] = [];
  /** Sources read lazily at check time (log arrays that grow). */
  readonly #sources: { where: string; read: () => string[] }[] = [];

  add(kind: SecretKind, value: string | null | undefined): void {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
    if (!this.#secrets.has(value)) this.#secrets.set(value, kind);
    // A URL-encoded copy is as much a leak as the plain one.
    const encoded = encodeURIComponent(value);
    if (encoded !== value && !this.#secrets.has(encoded)) this.#secrets.set(encoded, kind);
  }

  /** A PEM, whole and line by line: a fragment of a key is as bad as the whole. */
  addPem(pem: string | null | undefined): void {
    if (typeof pem !== 'string') return;
    this.add('PEM', pem);
    for (const line of pem.split(/\r?\n/))
      if (line.length >= 40 && !line.startsWith('-----')) this.add('PEM', line);
  }

  /** How many distinct secrets are known (a search over none would prove nothing). */
  count(kind?: SecretKind): number {
    if (!kind) return this.#secrets.size;
    return [...this.#secrets.values()].filter((k) => k === kind).length;
  }

  capture(where: string, text: string): void {
    this.#texts.push({ where, text });
  }

  captureError(where: string, e: unknown): void {
    const err = e as Error;
    this.capture(
      where,
      [String(err), err?.message ?? '', err?.stack ?? '', safeJson(err), inspect(err, { depth: 8 })].join(
        '\n',
      ),
    );
  }

  /** Status, every header (Location and Set-Cookie included) and the body of a response the test received. */
  captureResponse(where: string, status: number, headers: Headers, body: string): void {
    const lines = [`status ${status}`];
    headers.forEach((v, k) => {
      if (k !== 'set-cookie') lines.push(`${k}: ${v}`);
    });
    for (const c of headers.getSetCookie()) lines.push(`set-cookie: ${c}`);
    lines.push('', body);
    this.capture(where, lines.join('\n'));
  }

  /** A growing list (a logger's entries) read at check time, each entry as JSON and as inspect() shows it. */
  watch(where: string, entries: readonly unknown[]): void {
    this.#sources.push({
      where,
      read: () => entries.map((e) => `${safeJson(e)}\n${inspect(e, { depth: 8 })}`),
    });
  }

  /** Number of captured texts (pages, errors, log lines). */
  get captured(): number {
    return this.#texts.length + this.#sources.reduce((n, s) => n + s.read().length, 0);
  }

  findings(): Finding[] {
    const out: Finding[] = [];
    const texts = [
      ...this.#texts,
      ...this.#sources.flatMap((s) => s.read().map((text, i) => ({ where: `${s.where}[${i}]`, text }))),
    ];
    for (const { where, text } of texts) {
      for (const [secret, kind] of this.#secrets) {
        if (text.includes(secret) && !out.some((f) => f.where === where && f.kind === kind))
          out.push({ where, kind });
      }
    }
    return out;
  }

  /**
   * A fetch for the connector's Noon client that records every secret crossing the wire: request bodies (login
   * JWTs, codes, client secrets, access tokens), cookies sent and set, and response bodies (access tokens, keys).
   */
  tap(inner: FetchLike): FetchLike {
    return async (input, init) => {
      if (typeof init.body === 'string') this.#harvestJson(init.body);
      const sent = new Headers(init.headers).get('cookie');
      if (sent) for (const part of sent.split(';')) this.add('session cookie', part.split('=')[1]?.trim());
      const res = await inner(input, init);
      for (const c of res.headers.getSetCookie()) {
        const pair = c.split(';')[0] ?? '';
        this.add('session cookie', pair.slice(pair.indexOf('=') + 1).trim());
      }
      try {
        this.#harvestJson(await res.clone().text());
      } catch {
        // A body that cannot be read twice (a torn connection) holds nothing the connector could have used.
      }
      return res;
    };
  }

  #harvestJson(text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return;
    }
    const walk = (v: unknown, key: string | undefined): void => {
      if (typeof v === 'string') {
        const kind = key ? WIRE_FIELDS[key] : undefined;
        if (kind === 'PEM') this.addPem(v);
        else if (kind) this.add(kind, v);
        return;
      }
      if (Array.isArray(v)) for (const x of v) walk(x, key);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(json, undefined);
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}
