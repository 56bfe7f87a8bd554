// What keeps web pages away from the admin API of a sandbox on a developer's machine: on loopback it answers
// only loopback host names (a DNS name rebound to 127.0.0.1 is refused), no page of another origin, and only JSON
// bodies, so a page cannot add faults, mint codes or read the client secret.
// (The sandbox never imports the connector's client, so its loopback test is its own.)

import type { IncomingHttpHeaders } from 'node:http';
import { PermissionDenied, UnsupportedMediaType } from './errors.js';

/** `localhost` (and `*.localhost`), `127.0.0.0/8` and `::1`, with or without brackets. */
export function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return !!m && m.slice(1).every((p) => Number(p) <= 255);
}

/** The host name of a `Host` header, without its port. */
function hostNameOf(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
}

/**
 * A check of the `Host` header for a sandbox bound to `bindHost`: on loopback only loopback names pass (DNS
 * rebinding), elsewhere any (a container or CI network names it as it likes).
 */
export function hostCheck(bindHost: string): (host: string | undefined) => boolean {
  if (!isLoopbackName(bindHost)) return () => true;
  return (host) => host !== undefined && isLoopbackName(hostNameOf(host));
}

/**
 * Refuses an admin request a browser page of another origin sent (its `Origin` is not the sandbox's own, or the
 * browser says it is not same-origin), and an admin write whose body is not declared JSON: a cross-site form or
 * `text/plain` fetch needs no preflight, an `application/json` one does, and the sandbox answers no preflight.
 */
export function checkAdminRequest(req: {
  method: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  secure: boolean;
}): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new PermissionDenied('the admin API does not answer pages of other origins');
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = `${req.secure ? 'https' : 'http'}://${req.headers.host ?? ''}`.toLowerCase();
    if (origin.toLowerCase() !== own)
      throw new PermissionDenied('the admin API does not answer pages of other origins');
  }
  if (req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT') {
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (type !== 'application/json' && (type !== '' || req.body.length > 0))
      throw new UnsupportedMediaType('admin requests take application/json bodies');
  }
}
