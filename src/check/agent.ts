// The seller's browser over plain HTTP: a cookie jar, the integrator user's headers, redirects followed by hand
// within the application's origins (a redirect elsewhere, such as to Noon's consent page, ends the walk), a
// deadline per request, and every answer of the application kept for the secrets check.

import { CookieJar } from './cookie-jar.js';

export const CHECK_USER_AGENT = 'Mozilla/5.0 (compatible; noon-connect-check/1)';
const MAX_REDIRECTS = 10;
const MAX_BODY = 1024 * 1024;

/** One answer of the application, as the secrets check reads it. */
export interface Captured {
  /** `METHOD path` of the request (never its query, which holds codes the checker sent). */
  where: string;
  status: number;
  headers: [string, string][];
  body: string;
}

export type Answer =
  | {
      kind: 'answer';
      status: number;
      /** The URL of the last answer (after the application's own redirects). */
      url: URL;
      body: string;
      headers: Headers;
      /** Where a redirect left the application's origins, if it did. */
      leftTo: URL | undefined;
      /** Every path visited, in order. */
      chain: string[];
    }
  | {
      kind: 'no-answer';
      reason: 'timeout' | 'closed' | 'refused' | 'error';
      url: URL;
      chain: string[];
    };

/** Thrown when the check's own deadline ended a request: the runner reports it, not the case. */
export class CheckAborted extends Error {
  constructor() {
    super('check aborted');
    this.name = 'CheckAborted';
  }
}

export interface AgentSetup {
  timeoutMs: number;
  signal: AbortSignal;
  /** Origins of the application (start and callback); redirects are followed only within them. */
  appOrigins: ReadonlySet<string>;
  headers: Readonly<Record<string, string>>;
  captured: Captured[];
}

function noAnswerReason(e: unknown): 'timeout' | 'closed' | 'refused' | 'error' {
  const err = e as { name?: string; cause?: { code?: string; name?: string } };
  if (err?.name === 'TimeoutError') return 'timeout';
  const code = err?.cause?.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (
    code === 'ECONNRESET' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'EPIPE' ||
    code === 'UND_ERR_CLOSED' ||
    err?.cause?.name === 'SocketError'
  )
    return 'closed';
  return 'error';
}

async function readBody(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY) {
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class Agent {
  readonly jar = new CookieJar();
  readonly #setup: AgentSetup;
  readonly #withUser: boolean;

  /** `withUser: false` is a stranger's browser: neither the user's headers nor cookies. */
  constructor(setup: AgentSetup, o: { withUser?: boolean; cookies?: readonly string[]; start?: URL } = {}) {
    this.#setup = setup;
    this.#withUser = o.withUser ?? true;
    if (this.#withUser && o.start) for (const c of o.cookies ?? []) this.jar.add(o.start, c);
  }

  /** GET `url`, following the application's redirects; a redirect to anywhere else is returned, not followed. */
  async get(url: URL): Promise<Answer> {
    const chain: string[] = [];
    let current = url;
    for (let hop = 0; ; hop++) {
      chain.push(current.pathname);
      const headers: Record<string, string> = {
        'user-agent': CHECK_USER_AGENT,
        accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
        ...(this.#withUser ? this.#setup.headers : {}),
      };
      const cookie = this.jar.header(current);
      if (cookie) headers.cookie = cookie;
      let res: Response;
      let body: string;
      try {
        res = await fetch(current, {
          headers,
          redirect: 'manual',
          signal: AbortSignal.any([this.#setup.signal, AbortSignal.timeout(this.#setup.timeoutMs)]),
        });
        body = await readBody(res);
      } catch (e) {
        if (this.#setup.signal.aborted) throw new CheckAborted();
        return { kind: 'no-answer', reason: noAnswerReason(e), url: current, chain };
      }
      this.jar.store(current, res.headers.getSetCookie());
      const captured: [string, string][] = [];
      res.headers.forEach((value, name) => {
        captured.push([name, value]);
      });
      this.#setup.captured.push({
        where: `GET ${current.pathname}`,
        status: res.status,
        headers: captured,
        body,
      });
      const answered = (leftTo?: URL): Answer => ({
        kind: 'answer',
        status: res.status,
        url: current,
        body,
        headers: res.headers,
        leftTo,
        chain,
      });
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || location === null) return answered();
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        return answered();
      }
      if (!this.#setup.appOrigins.has(next.origin) || hop >= MAX_REDIRECTS) return answered(next);
      current = next;
    }
  }
}
