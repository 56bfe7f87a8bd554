// What every endpoint handler gets: the world, the switches, the sandbox's own signing key and the limiters.

import type { KeyObject } from 'node:crypto';
import { SessionExpired, SessionRequired } from './errors.js';
import type { SandboxRequest, SandboxResponse } from './http.js';
import type { GatewaySession } from './model.js';
import type { WindowCounter, WindowLimit } from './rate-limit.js';
import type { World } from './world.js';

/** Behaviour switches: each [ours] rule of the contract and each open question, defaults as the contract says. */
export interface Switches {
  /** NC7: 400 without a User-Agent. */
  requireUserAgent: boolean;
  /**
   * NC30 and §7: token/create and token/exchange require the integrator session. Off, a call without the session
   * cookie is taken as the quickstart's samples send it (the client's or the token's project); a session that is
   * presented is still checked.
   */
  requireOAuthSession: boolean;
  /** NC8 alternative: 415 unless `Content-Type: application/json`. */
  requireJsonContentType: boolean;
  /** NC13/NC37 alternative: error bodies without `details[].reason`. */
  errorReasons: boolean;
  /** Open question: a second exchange of the same access token replays the first answer instead of TOKEN_USED. */
  exchangeReplay: boolean;
  /** Open question: whether credentials/list exists (off → 501). */
  keyListing: boolean;
  /** Open question: whether removing a key ends the sessions logged in with it. */
  deactivateEndsSessions: boolean;
  /** Open question: whether a second login ends the first session of the same key. */
  secondLoginEndsFirst: boolean;
  /** NC15: honour a `redirect_uri` on the authorize URL that exactly matches a registered one. */
  redirectUriParam: boolean;
  /** NC38 / E9: failed codes and tokens per project; null turns the limiter off. */
  failedCodeLimit: WindowLimit | null;
  /** NC38: per-project gateway limit; null (default) turns it off. */
  gatewayRateLimit: WindowLimit | null;
  /** NC35: API User Service paths. */
  apiUserPaths: { create: string; list: string; remove: string };
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
}

export const DEFAULT_SWITCHES: Readonly<Switches> = Object.freeze({
  requireUserAgent: true,
  requireOAuthSession: true,
  requireJsonContentType: false,
  errorReasons: true,
  exchangeReplay: false,
  keyListing: true,
  deactivateEndsSessions: false,
  secondLoginEndsFirst: false,
  redirectUriParam: true,
  failedCodeLimit: { limit: 30, windowMs: 60_000 },
  gatewayRateLimit: null,
  apiUserPaths: {
    create: '/identity/v1/api_users/credentials/create',
    list: '/identity/v1/api_users/credentials/list',
    remove: '/identity/v1/api_users/credentials/remove',
  },
  maxBodyBytes: 1024 * 1024,
});

export interface Context {
  readonly world: World;
  readonly switches: Switches;
  /** The sandbox's own key for signing access tokens. */
  readonly signingKey: KeyObject;
  readonly signingPublicKey: KeyObject;
  readonly issuer: () => string;
  readonly failedCodes: WindowCounter | undefined;
  /** Secret for consent-form CSRF tokens. */
  readonly csrfSecret: Buffer;
}

export type Handler = (req: SandboxRequest, ctx: Context) => SandboxResponse | Promise<SandboxResponse>;

/** NC11/NC13: the session comes from the cookies only; a missing or unknown one → SESSION_REQUIRED. */
export function requireSession(req: SandboxRequest, ctx: Context): GatewaySession {
  const id = req.cookies.get('_npsid');
  if (!id) throw new SessionRequired();
  const s = ctx.world.sessions.get(id);
  if (!s || s.endedAt !== undefined) throw new SessionRequired();
  const refresh = req.cookies.get('_nprtnetid');
  if (refresh !== undefined && refresh !== s.refreshId) throw new SessionRequired();
  if (ctx.world.clock.now() >= s.expiresAt) throw new SessionExpired();
  return s;
}

/**
 * The session of a token/create or token/exchange call: undefined only when none was presented and the
 * `requireOAuthSession` switch is off.
 */
export function oauthSession(req: SandboxRequest, ctx: Context): GatewaySession | undefined {
  if (!ctx.switches.requireOAuthSession && !req.cookies.get('_npsid')) return undefined;
  return requireSession(req, ctx);
}
