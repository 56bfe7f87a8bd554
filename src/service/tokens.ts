// Per-tenant REST API tokens: made with a recognisable prefix and shown once, stored as a SHA-256 hash only,
// scoped to one tenant or to all, with an optional expiry and the time of last use. Every request looks the token
// up in the store, so a revocation holds on every instance at once.

import { hash, randomBytes } from 'node:crypto';
import { TENANT_PATTERN } from '../connect/invariants.js';
import type { ApiTokenRecord, Store } from '../store/index.js';

/** The shape of every token this service makes: `nct_<12 hex>_<43 base64url>`. */
const TOKEN_SHAPE = /^nct_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
/** The public part (the first 16 characters): the token's id in listings and the audit log. */
export const PREFIX_SHAPE = /^nct_[0-9a-f]{12}$/;
const NAME_SHAPE = /^[\p{L}\p{N} ._:@()-]{1,80}$/u;
/** A use is recorded at most this often per token (one conditional write). */
const TOUCH_EVERY_MS = 10_000;
const DAY_MS = 86_400_000;

/** Who made a call: how the audit log names it, and the tenant it may act for (undefined: every tenant). */
export interface Principal {
  actor: string;
  tenant: string | undefined;
}

/** A token's public view: never its secret or its hash. */
export interface TokenView {
  prefix: string;
  name: string;
  tenant: string | null;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/** A token or its settings refused, with a message fit for a person (no secret in it). */
export class TokenInputError extends Error {
  readonly code = 'INVALID_TOKEN_REQUEST';
}

export function tokenHash(token: string): string {
  return hash('sha256', token, 'hex');
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function tokenView(t: ApiTokenRecord, now: number): TokenView {
  return {
    prefix: t.prefix,
    name: t.name,
    tenant: t.tenant,
    created_at: new Date(t.createdAt).toISOString(),
    created_by: t.createdBy,
    expires_at: iso(t.expiresAt),
    last_used_at: iso(t.lastUsedAt),
    revoked_at: iso(t.revokedAt),
    status:
      t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : 'active',
  };
}

/** What a new token is: a name, the tenant it is limited to (null: every tenant), and days until it expires. */
export interface NewToken {
  name: string;
  tenant: string | null;
  expiresInDays?: number | undefined;
  createdBy: string;
}

export class ApiTokens {
  readonly #store: Store;
  readonly #now: () => number;

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /** Makes a token; the returned `token` is the only time it exists outside the caller's hands. */
  async create(n: NewToken): Promise<{ token: string; view: TokenView }> {
    const name = n.name.trim();
    if (!NAME_SHAPE.test(name))
      throw new TokenInputError('name must be 1 to 80 letters, digits, spaces and . _ : @ ( ) -');
    if (n.tenant !== null && !TENANT_PATTERN.test(n.tenant))
      throw new TokenInputError('tenant must be 1 to 128 letters, digits and . _ : @ -');
    const days = n.expiresInDays;
    if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650))
      throw new TokenInputError('expires in days must be an integer from 1 to 3650');
    const now = this.#now();
    const prefix = `nct_${randomBytes(6).toString('hex')}`;
    const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
    const record: ApiTokenRecord = {
      prefix,
      hash: tokenHash(token),
      name,
      tenant: n.tenant,
      createdAt: now,
      createdBy: n.createdBy,
      expiresAt: days === undefined ? null : now + days * DAY_MS,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.#store.createApiToken(record);
    return { token, view: tokenView(record, now) };
  }

  /** The caller a presented token names, when it is one of ours, live (not revoked, not expired). */
  async verify(presented: string): Promise<Principal | undefined> {
    if (!TOKEN_SHAPE.test(presented)) return undefined;
    const t = await this.#store.findApiToken(tokenHash(presented));
    const now = this.#now();
    if (!t || t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now)) return undefined;
    // The row just read says whether the conditional write could change anything (a use recorded since only makes
    // it later): most requests of a busy token write nothing.
    if (t.lastUsedAt === null || t.lastUsedAt <= now - TOUCH_EVERY_MS)
      await this.#store.touchApiToken(t.prefix, now, TOUCH_EVERY_MS);
    return { actor: `token:${t.prefix}`, tenant: t.tenant ?? undefined };
  }

  async list(q: { tenant?: string } = {}): Promise<TokenView[]> {
    const now = this.#now();
    return (await this.#store.listApiTokens(q)).map((t) => tokenView(t, now));
  }

  async get(prefix: string): Promise<TokenView | undefined> {
    if (!PREFIX_SHAPE.test(prefix)) return undefined;
    const t = await this.#store.getApiToken(prefix);
    return t ? tokenView(t, this.#now()) : undefined;
  }

  /** Revokes a token by its prefix: 'revoked', 'already' (it was), or 'unknown'. */
  async revoke(prefix: string): Promise<'revoked' | 'already' | 'unknown'> {
    if (!PREFIX_SHAPE.test(prefix)) return 'unknown';
    if (await this.#store.revokeApiToken(prefix, this.#now())) return 'revoked';
    return (await this.#store.getApiToken(prefix)) ? 'already' : 'unknown';
  }
}
