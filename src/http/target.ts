// The one rule every adapter applies to a request target before anything else: a plain absolute path.

import { lightResponse } from './light-response.js';

/** A path URL parsing keeps as it is: non-empty segments of letters, digits and `-_.~`, none starting with `.`. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*\/?$/;

/**
 * Whether a request target is a plain absolute path: one leading `/` (never `//`, which URL resolution reads as
 * a host name), no `\` (which URL parsing turns into `/`), and a path that URL parsing keeps exactly as sent (no
 * dot segments, plain or percent-encoded). A front proxy that forwards only some paths judges the target it
 * received; the server must route that same path, not one the parser made of it.
 */
export function isPlainTarget(target: string): boolean {
  if (!target.startsWith('/') || target.startsWith('//') || target.includes('\\')) return false;
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  // The common case without parsing: segments of unreserved characters, none starting with a dot, are kept as sent.
  if (PLAIN_PATH.test(path)) return true;
  try {
    return new URL(`http://target.invalid${path}`).pathname === path;
  } catch {
    return false;
  }
}

/** The answer to a target that is not a plain absolute path: nothing of it is routed, parsed or logged. */
export function badTargetResponse(): Response {
  return lightResponse('bad request: the request target must be a plain absolute path\n', 400, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
}
