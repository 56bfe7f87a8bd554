// Dashboard sessions, CSRF tokens and one-shot flash messages, kept in the store so any instance answers any
// request and a restart signs nobody out.
//
// Every browser that opens a dashboard page carries one random cookie value. A CSRF token is an HMAC of that
// value under a key every instance derives from the sealed link key, so tokens need no storage and die with the
// cookie. Signing in swaps the value for a fresh one (a value planted before sign-in is worth nothing after it)
// and records the SHA-256 of the value as a session for 12 h; the value itself is never stored. Signing out
// revokes the row, so every instance refuses the cookie at once. A flash message rides on the session's row.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../../store/index.js';
import { secretMatcher } from '../access.js';
import type { Flash } from './html.js';

export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** How long a browser that signed in keeps its own sign-in budget (see {@link DashboardAuth.knownBrowserMark}). */
export const KNOWN_BROWSER_MS = 30 * 24 * 60 * 60_000;

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

export interface AuthOptions {
  adminToken: string | undefined;
  /** https public URL: `__Host-` prefix and `Secure`. */
  secure: boolean;
  now: () => number;
  store: Store;
  /** The CSRF key every instance shares (derived from the sealed link key). */
  csrfKey: Buffer;
}

/** The stored id of a session: the SHA-256 of its cookie value. */
export function sessionHash(cookieValue: string): string {
  return createHash('sha256').update(`nc-session\0${cookieValue}`).digest('hex');
}

/** How the audit log names a session: a short, non-secret handle of its hash. */
export function sessionActor(cookieValue: string): string {
  return `admin:${sessionHash(cookieValue).slice(0, 12)}`;
}

function isFlash(v: unknown): v is Flash {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Flash).text === 'string' &&
    typeof (v as Flash).tone === 'string'
  );
}

export class DashboardAuth {
  readonly cookieName: string;
  readonly #adminMatches: (presented: string) => boolean;
  readonly #secure: boolean;
  readonly #now: () => number;
  readonly #key: Buffer;
  readonly #store: Store;
  /** Flash messages taken from the store for the page being answered (see {@link loadFlash}). */
  readonly #loaded = new Map<string, Flash>();

  constructor(o: AuthOptions) {
    this.#secure = o.secure;
    this.cookieName = o.secure ? '__Host-nc_dash' : 'nc_dash';
    this.#adminMatches = secretMatcher(o.adminToken);
    this.#now = o.now;
    this.#key = o.csrfKey;
    this.#store = o.store;
  }

  /** The dashboard cookie's value, when the request carries a well-formed one. */
  readCookie(request: Request): string | undefined {
    const header = request.headers.get('cookie');
    if (!header) return undefined;
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== this.cookieName) continue;
      const value = part.slice(eq + 1).trim();
      if (COOKIE_VALUE.test(value)) return value;
    }
    return undefined;
  }

  /**
   * The "known browser" mark a browser gets when it signs in: a random id and its HMAC, kept 30 days. A browser
   * that shows a valid mark tries to sign in against its own budget, not its address's or everyone's, so guesses
   * from elsewhere (even through the same proxy) never keep the admin out. It cannot be forged without the key,
   * and grants nothing but that budget.
   */
  knownBrowserMark(): { id: string; setCookie: string } {
    const id = randomBytes(16).toString('base64url');
    const parts = [`${this.#knownName}=${id}.${this.#knownMac(id)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
    if (this.#secure) parts.push('Secure');
    parts.push(`Max-Age=${Math.floor(KNOWN_BROWSER_MS / 1000)}`);
    return { id, setCookie: parts.join('; ') };
  }

  /** The id of the request's known-browser mark, when it carries one this deployment made. */
  knownBrowser(request: Request): string | undefined {
    const header = request.headers.get('cookie');
    if (!header) return undefined;
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== this.#knownName) continue;
      const m = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(part.slice(eq + 1).trim());
      if (!m) continue;
      const expected = Buffer.from(this.#knownMac(m[1]!));
      const presented = Buffer.from(m[2]!);
      if (presented.length === expected.length && timingSafeEqual(presented, expected)) return m[1];
    }
    return undefined;
  }

  get #knownName(): string {
    return this.#secure ? '__Host-nc_known' : 'nc_known';
  }

  #knownMac(id: string): string {
    return createHmac('sha256', this.#key).update(`known-browser\0${id}`).digest('base64url');
  }

  newCookieValue(): string {
    return randomBytes(32).toString('base64url');
  }

  /** `Set-Cookie` for a value; a signed-in session's cookie ends with the session. */
  setCookie(value: string, maxAgeS?: number): string {
    const parts = [`${this.cookieName}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
    if (this.#secure) parts.push('Secure');
    if (maxAgeS !== undefined) parts.push(`Max-Age=${maxAgeS}`);
    return parts.join('; ');
  }

  clearCookie(): string {
    return this.setCookie('', 0);
  }

  csrfFor(cookieValue: string): string {
    return createHmac('sha256', this.#key).update(`csrf\0${cookieValue}`).digest('base64url');
  }

  checkCsrf(cookieValue: string | undefined, token: string | null): boolean {
    if (!cookieValue || !token) return false;
    const expected = Buffer.from(this.csrfFor(cookieValue));
    const presented = Buffer.from(token);
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  }

  /** Compares in constant time (both sides hashed first, so their lengths say nothing either). */
  checkAdminToken(presented: string): boolean {
    return this.#adminMatches(presented);
  }

  /** Whether the value is a live session: looked up in the store on every request, so revocation is immediate. */
  async isSignedIn(cookieValue: string | undefined): Promise<boolean> {
    if (!cookieValue) return false;
    return (await this.#store.getSession(sessionHash(cookieValue), this.#now())) !== undefined;
  }

  /** Starts a session under a fresh cookie value; returns the value and its lifetime in seconds. */
  async signIn(): Promise<{ value: string; maxAgeS: number }> {
    const now = this.#now();
    const value = this.newCookieValue();
    await this.#store.createSession({
      idHash: sessionHash(value),
      createdAt: now,
      expiresAt: now + SESSION_TTL_MS,
    });
    return { value, maxAgeS: Math.floor(SESSION_TTL_MS / 1000) };
  }

  /** Revokes the session for every instance. */
  async signOut(cookieValue: string | undefined): Promise<void> {
    if (!cookieValue) return;
    this.#loaded.delete(cookieValue);
    await this.#store.revokeSession(sessionHash(cookieValue), this.#now());
  }

  /** Keeps a message for the next page this browser opens (POST → 303 → GET), on whichever instance. */
  async setFlash(cookieValue: string, flash: Flash): Promise<void> {
    await this.#store.setSessionFlash(
      sessionHash(cookieValue),
      JSON.stringify({ tone: flash.tone, text: flash.text }),
    );
  }

  /** Takes the session's message from the store for the page about to be answered ({@link takeFlash} hands it). */
  async loadFlash(cookieValue: string): Promise<void> {
    const raw = await this.#store.takeSessionFlash(sessionHash(cookieValue));
    if (raw === undefined) return;
    try {
      const f = JSON.parse(raw) as unknown;
      if (isFlash(f)) this.#loaded.set(cookieValue, f);
    } catch {
      // A malformed message is dropped.
    }
  }

  /** Drops a loaded message the page did not show (it was taken from the store: it is not shown twice). */
  forgetFlash(cookieValue: string): void {
    this.#loaded.delete(cookieValue);
  }

  takeFlash(cookieValue: string | undefined): Flash | undefined {
    if (!cookieValue) return undefined;
    const f = this.#loaded.get(cookieValue);
    this.#loaded.delete(cookieValue);
    return f;
  }
}
