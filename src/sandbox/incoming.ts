// Reading a node:http request into the sandbox's request model: its target (path and query), its body, and the
// SandboxRequest the handlers see. Kept cheap: most targets are plain paths that need no URL parser.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { SandboxRequest } from './http.js';

export class BodyTooLarge extends Error {}
/** The client went away before its request body was complete: there is nobody to answer. */
export class ClientGone extends Error {}

/** The body of a GET or HEAD: none (never written to, so one serves every request). */
export const EMPTY_BODY = Buffer.alloc(0);

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => reject(new ClientGone()));
    // A body cut off mid-way may end with 'close' alone; without this the handler would wait forever.
    req.on('close', () => {
      if (!req.complete) reject(new ClientGone());
    });
  });
}

export interface RequestTarget {
  /** The path, as the WHATWG URL parser reads it. */
  path: string;
  /** The query with its `?` (or ''), as the URL parser's `search` gives it. */
  search: string;
}

/**
 * A target the URL parser leaves exactly as it is: a path of characters it neither escapes nor reads specially
 * (no `.`, `%` or `\`), and a query without `#` or a character it would escape.
 */
const PLAIN_TARGET = /^\/[\w\-~!$&'()*+,;=:@/]*(?:\?[!$%&(-;=?-~]*)?$/;

/**
 * The request path without its query, and the query. A target that starts with `//` stays a path: resolved
 * against a base URL it would read as a host name, so `//x/_sandbox/faults` would reach the admin API under
 * another path.
 */
export function requestTarget(rawUrl: string): RequestTarget {
  if (PLAIN_TARGET.test(rawUrl)) {
    const q = rawUrl.indexOf('?');
    return q < 0 ? { path: rawUrl, search: '' } : { path: rawUrl.slice(0, q), search: rawUrl.slice(q) };
  }
  try {
    const u = rawUrl.startsWith('/') ? new URL(`http://sandbox.invalid${rawUrl}`) : new URL(rawUrl);
    return { path: u.pathname, search: u.search };
  } catch {
    return { path: '/', search: '' };
  }
}

/** A request as the handlers see it; the query is parsed on first use (most gateway calls have none). */
export class IncomingRequest implements SandboxRequest {
  parsedBody: { value: unknown } | null | undefined = undefined;
  #query: URLSearchParams | undefined;
  readonly #search: string;

  constructor(
    readonly method: string,
    readonly path: string,
    search: string,
    query: URLSearchParams | undefined,
    readonly headers: IncomingHttpHeaders,
    readonly body: Buffer,
    readonly cookies: ReadonlyMap<string, string>,
    readonly requestId: string,
    readonly secure: boolean,
  ) {
    this.#search = search;
    this.#query = query;
  }

  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.#search);
    return this.#query;
  }
}
