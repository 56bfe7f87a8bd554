// What crossed the connector's wire to Noon, and the leak search built on it: a fetch that keeps a copy of every
// request and answer (so a test knows each secret that travelled: codes, access tokens, PEMs, session cookies,
// login JWTs), the secrets harvested from those copies, and the search for them in logs, pages, events, stored
// error fields and the sandbox journal.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FetchLike } from '../../src/client/index.js';
import type { Stack } from './harness.js';
import { PEM_PRIVATE_ARMOUR } from './pem.js';

// --- the recorded wire -------------------------------------------------------------------------------

export interface WireRecord {
  seq: number;
  path: string;
  requestBody: string | undefined;
  requestCookie: string | undefined;
  status: number | undefined;
  responseBody: string | undefined;
  setCookies: string[];
  /** performance.now() when the request was handed to fetch. */
  startedAt: number;
  /** When the answer was complete, or the request failed. */
  endedAt: number | undefined;
  failed: boolean;
  done: Promise<void>;
}

/** Keeps a copy of every request and answer the client exchanges with the sandbox. */
export class WireRecorder {
  readonly records: WireRecord[] = [];
  #seq = 0;

  /** A fetch that records every request and answer it passes to `inner`. */
  tap(inner: FetchLike): FetchLike {
    return async (input, init) => {
      const headers = (init.headers ?? {}) as Record<string, string>;
      const rec: WireRecord = {
        seq: ++this.#seq,
        path: new URL(input).pathname,
        requestBody: typeof init.body === 'string' ? init.body : undefined,
        requestCookie: headers.cookie,
        status: undefined,
        responseBody: undefined,
        setCookies: [],
        startedAt: performance.now(),
        endedAt: undefined,
        failed: false,
        done: Promise.resolve(),
      };
      this.records.push(rec);
      let res: Response;
      try {
        res = await inner(input, init);
      } catch (e) {
        rec.endedAt = performance.now();
        rec.failed = true;
        throw e;
      }
      rec.status = res.status;
      rec.setCookies = res.headers.getSetCookie();
      const copy = res.clone();
      rec.done = copy.text().then(
        (t) => {
          rec.responseBody = t;
          rec.endedAt = performance.now();
        },
        () => {
          rec.failed = true;
          rec.endedAt = performance.now();
        },
      );
      return res;
    };
  }

  /** Records whose path ends with `suffix` (e.g. `/token/exchange`). */
  to(suffix: string): WireRecord[] {
    return this.records.filter((r) => r.path.endsWith(suffix));
  }

  async settled(): Promise<void> {
    await Promise.all(this.records.map((r) => r.done));
  }
}

// --- secrets -----------------------------------------------------------------------------------------

export interface Secret {
  /** What it is, safe to print (never the value). */
  label: string;
  value: string;
}

const SECRET_FIELDS = new Set(['access_token', 'private_key', 'code', 'client_secret', 'token']);
/** Any PEM private key header or footer: PEM text where none may be. */
export const PEM_MARKER = PEM_PRIVATE_ARMOUR;

export function pemSecrets(label: string, pem: string): Secret[] {
  const out: Secret[] = [{ label, value: pem }];
  for (const [i, line] of pem.split(/\r?\n/).entries()) {
    // Base64 body lines (and the short last one); the BEGIN/END lines are caught by PEM_MARKER.
    if (line.length >= 16 && !line.startsWith('-----'))
      out.push({ label: `${label} line ${i}`, value: line });
  }
  return out;
}

function walk(v: unknown, visit: (key: string, value: string) => void, key = ''): void {
  if (typeof v === 'string') visit(key, v);
  else if (Array.isArray(v)) for (const x of v) walk(x, visit, key);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, visit, k);
}

function jsonOrUndefined(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Every secret value that crossed the recorded wire. */
export function wireSecrets(recorder: WireRecorder): Secret[] {
  const out: Secret[] = [];
  for (const r of recorder.records) {
    const where = `${r.path}#${r.seq}`;
    for (const [side, body] of [
      ['request', r.requestBody],
      ['response', r.responseBody],
    ] as const) {
      walk(jsonOrUndefined(body), (k, v) => {
        if (k === 'private_key' || PEM_MARKER.test(v)) out.push(...pemSecrets(`${side} ${k} of ${where}`, v));
        else if (SECRET_FIELDS.has(k) && v.length >= 8) {
          out.push({ label: `${side} ${k} of ${where}`, value: v });
          // A JWT's signature alone identifies it as well as the whole token.
          const sig = v.split('.')[2];
          if (sig && sig.length >= 16) out.push({ label: `${side} ${k} signature of ${where}`, value: sig });
        }
      });
    }
    for (const c of r.setCookies) {
      const pair = c.split(';')[0] ?? '';
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value.length >= 8)
        out.push({ label: `cookie ${pair.slice(0, pair.indexOf('='))} of ${where}`, value });
    }
  }
  return out;
}

/** Labels of the secrets found in `text` (values are never returned, so a failing assertion prints none). */
export function leaks(text: string | Buffer, secrets: readonly Secret[]): string[] {
  const hay = typeof text === 'string' ? Buffer.from(text) : text;
  const found = new Set<string>();
  if (PEM_MARKER.test(hay.toString('latin1'))) found.add('PEM header or footer');
  for (const s of secrets) if (hay.includes(s.value)) found.add(s.label);
  return [...found];
}

/** The files under a folder (recursively), for the at-rest search. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** The SQLite file's folder (database, -wal, -shm and anything else the connector wrote there). */
export function dataFolder(stack: Stack): string {
  if (!stack.file) throw new TypeError('not a SQLite stack');
  return dirname(stack.file);
}

export function readAll(files: readonly string[]): { file: string; bytes: Buffer }[] {
  return files.map((file) => ({ file, bytes: readFileSync(file) }));
}

/**
 * The secret search every case runs: which known secrets (client secrets, the integrator key, codes, states,
 * access tokens, PEMs, session cookies, login JWTs) appear in any log line, result page or redirect, event (hook
 * or outbox), attempt error field, the sandbox journal, or the extra texts (error messages) given. Empty when
 * none; entries name the secret and the place, never the value.
 */
export async function leakReport(s: Stack, extra: { label: string; text: string }[] = []): Promise<string[]> {
  const secrets = await s.secrets();
  const texts: { label: string; text: string }[] = [
    ...s.logs.map((l, i) => ({ label: `log line ${i}`, text: JSON.stringify(l) })),
    // The start redirect carries the state to Noon by design; every other page and redirect is checked.
    ...s.pages
      .filter((p) => !(p.location ?? '').startsWith(s.sb.url))
      .map((p) => ({ label: `page ${p.url.replace(/\?.*/, '')}`, text: `${p.location ?? ''}\n${p.text}` })),
    ...s.events.map((e) => ({ label: `event ${e.type}`, text: JSON.stringify(e) })),
    ...(await s.store.listEvents({ limit: 10_000 })).map((e) => ({
      label: `outbox ${e.type}`,
      text: e.payload,
    })),
    ...(await s.store.listAttempts({ limit: 10_000 })).map((a) => ({
      label: `attempt ${a.id} errors`,
      text: `${a.errorCode ?? ''} ${a.errorDetail ?? ''}`,
    })),
    { label: 'sandbox journal', text: JSON.stringify(s.sb.journal.entries()) },
    ...extra,
  ];
  return texts.flatMap((t) => leaks(t.text, secrets).map((what) => `${what} in ${t.label}`));
}
