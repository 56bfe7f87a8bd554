// Where the client talks to: Noon production, Noon's static sandbox, a local emulator, or explicit URLs.
// The consent page and the gateway are separate URLs so any layout works (NC1).

import { NoonTypeError } from './errors.js';

/** Noon production's consent page and API gateway. */
export const PRODUCTION = Object.freeze({
  authorizeUrl: 'https://oauth.noon.partners/',
  gatewayUrl: 'https://noon-api-gateway.noon.partners',
});
/** The gateway of Noon's own static sandbox (it has no OAuth backend: token calls are refused, NC2). */
export const NOON_SANDBOX_GATEWAY = 'https://noon-sandbox-api-gateway.noon.partners';

/**
 * - `'production'`: Noon itself.
 * - `'noon-sandbox'`: Noon's static sandbox gateway: login, whoami and seller APIs only (NC2).
 * - `{ local: origin }`: one origin serving the consent page at `/` and the gateway (our sandbox's `url`).
 * - `{ authorizeUrl, gatewayUrl }`: explicit URLs.
 */
export type NoonEnvironment =
  | 'production'
  | 'noon-sandbox'
  | { local: string }
  | { authorizeUrl: string; gatewayUrl: string };

/** A {@link NoonEnvironment} resolved to checked URLs (`NoonClient.environment`). */
export interface ResolvedEnvironment {
  readonly name: 'production' | 'noon-sandbox' | 'local' | 'custom';
  /** Consent page; undefined where there is none (Noon's static sandbox). */
  readonly authorizeUrl: string | undefined;
  /** Gateway origin, e.g. `https://noon-api-gateway.noon.partners`. */
  readonly gatewayOrigin: string;
  /** Path prefix under the origin ('' normally), without a trailing slash. */
  readonly gatewayPath: string;
  /** Whether token/create and token/exchange can work here (NC2: not on Noon's static sandbox). */
  readonly oauth: boolean;
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts allowed over plain http. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '[::1]' || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return !!m && m.slice(1).every((p) => Number(p) <= 255);
}

function checkedUrl(raw: unknown, what: string): URL {
  if (typeof raw !== 'string' || raw === '')
    throw new NoonTypeError('INVALID_ARGUMENT', `${what} is required`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NoonTypeError('INVALID_ARGUMENT', `${what} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new NoonTypeError('INVALID_ARGUMENT', `${what} must be an http(s) URL`);
  if (url.username || url.password)
    throw new NoonTypeError('INVALID_ARGUMENT', `${what} must not carry credentials`);
  if (url.hash) throw new NoonTypeError('INVALID_ARGUMENT', `${what} must not have a fragment`);
  // Session cookies and client secrets travel to these URLs: plain http only on this machine.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new NoonTypeError('INSECURE_URL', `${what} must use https unless it is a loopback address`);
  return url;
}

function gateway(raw: unknown, what: string): { gatewayOrigin: string; gatewayPath: string } {
  const url = checkedUrl(raw, what);
  if (url.search) throw new NoonTypeError('INVALID_ARGUMENT', `${what} must not have a query`);
  return { gatewayOrigin: url.origin, gatewayPath: url.pathname.replace(/\/+$/, '') };
}

export function resolveEnvironment(env: NoonEnvironment | undefined): ResolvedEnvironment {
  if (env === undefined) throw new NoonTypeError('INVALID_ARGUMENT', 'environment is required');
  if (env === 'production') {
    return Object.freeze({
      name: 'production',
      authorizeUrl: PRODUCTION.authorizeUrl,
      ...gateway(PRODUCTION.gatewayUrl, 'gatewayUrl'),
      oauth: true,
    });
  }
  if (env === 'noon-sandbox') {
    return Object.freeze({
      name: 'noon-sandbox',
      authorizeUrl: undefined,
      ...gateway(NOON_SANDBOX_GATEWAY, 'gatewayUrl'),
      oauth: false,
    });
  }
  if (typeof env === 'object' && env !== null && 'local' in env) {
    const g = gateway(env.local, 'environment.local');
    return Object.freeze({
      name: 'local',
      authorizeUrl: `${g.gatewayOrigin}${g.gatewayPath}/`,
      ...g,
      oauth: true,
    });
  }
  if (typeof env === 'object' && env !== null && 'gatewayUrl' in env) {
    const authorize = checkedUrl(env.authorizeUrl, 'environment.authorizeUrl');
    return Object.freeze({
      name: 'custom',
      authorizeUrl: authorize.href,
      ...gateway(env.gatewayUrl, 'environment.gatewayUrl'),
      oauth: true,
    });
  }
  throw new NoonTypeError(
    'INVALID_ARGUMENT',
    "environment must be 'production', 'noon-sandbox', { local } or { authorizeUrl, gatewayUrl }",
  );
}
