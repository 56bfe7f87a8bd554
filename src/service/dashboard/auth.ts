// Dashboard sessions, CSRF tokens and one-shot flash messages, kept in this process's memory (sign-in limits are
// counted in the store: see sign-in.ts).
//
// Every browser that opens a dashboard page carries one random cookie value. A CSRF token is an HMAC of that
// value under a per-process key, so tokens need no storage and die with the cookie. Signing in swaps the value for
// a fresh one (a value planted before sign-in is worth nothing after it) and records it as a session for 12 h.
// Sessions live in memory: a restart signs everyone out, and several instances behind one address need sticky
// routing for the dashboard (the connect endpoints and the REST API do not depend on it).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { secretMatcher } from '../access.js';
import type { Flash } from './html.js';

export const SESSION_TTL_MS = 12 * 60 * 60_000;
const FLASH_TTL_MS = 10 * 60_000;
const MAX_SESSIONS = 1000;
const MAX_FLASHES = 1000;

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

export interface AuthOptions {
  adminToken: string | undefined;
  /** https public URL: `__Host-` prefix and `Secure`. */
  secure: boolean;
  now: () => number;
}

export class DashboardAuth {
  readonly cookieName: string;
  readonly #adminMatches: (presented: string) => boolean;
  readonly #secure: boolean;
  readonly #now: () => number;
  readonly #key = randomBytes(32);
  readonly #sessions = new Map<string, { expiresAt: number }>();
  readonly #flashes = new Map<string, { flash: Flash; expiresAt: number }>();

  constructor(o: AuthOptions) {
    this.#secure = o.secure;
    this.cookieName = o.secure ? '__Host-nc_dash' : 'nc_dash';
    this.#adminMatches = secretMatcher(o.adminToken);
    this.#now = o.now;
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

  isSignedIn(cookieValue: string | undefined): boolean {
    if (!cookieValue) return false;
    const s = this.#sessions.get(cookieValue);
    if (!s) return false;
    if (this.#now() >= s.expiresAt) {
      this.#sessions.delete(cookieValue);
      return false;
    }
    return true;
  }

  /** Starts a session under a fresh cookie value; returns the value and its lifetime in seconds. */
  signIn(): { value: string; maxAgeS: number } {
    const now = this.#now();
    for (const [k, s] of this.#sessions) if (now >= s.expiresAt) this.#sessions.delete(k);
    // The oldest session gives way when the table is full (a Map iterates in insertion order).
    while (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.#sessions.delete(oldest);
    }
    const value = this.newCookieValue();
    this.#sessions.set(value, { expiresAt: now + SESSION_TTL_MS });
    return { value, maxAgeS: Math.floor(SESSION_TTL_MS / 1000) };
  }

  signOut(cookieValue: string | undefined): void {
    if (cookieValue) {
      this.#sessions.delete(cookieValue);
      this.#flashes.delete(cookieValue);
    }
  }

  /** Keeps a message for the next page this browser opens (POST → 303 → GET). */
  setFlash(cookieValue: string, flash: Flash): void {
    const now = this.#now();
    for (const [k, f] of this.#flashes) if (now >= f.expiresAt) this.#flashes.delete(k);
    while (this.#flashes.size >= MAX_FLASHES) {
      const oldest = this.#flashes.keys().next().value;
      if (oldest === undefined) break;
      this.#flashes.delete(oldest);
    }
    this.#flashes.delete(cookieValue);
    this.#flashes.set(cookieValue, { flash, expiresAt: now + FLASH_TTL_MS });
  }

  takeFlash(cookieValue: string | undefined): Flash | undefined {
    if (!cookieValue) return undefined;
    const f = this.#flashes.get(cookieValue);
    if (!f) return undefined;
    this.#flashes.delete(cookieValue);
    return this.#now() < f.expiresAt ? f.flash : undefined;
  }
}
