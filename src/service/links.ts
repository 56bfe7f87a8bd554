// Connect links: signed, expiring start URLs that carry the tenant (and return path, and the connection to
// reconnect), made by the REST API or the dashboard for the integrator's own authenticated users. The start
// endpoint trusts only what such a link says.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LINK_KEY_CONTEXT, META } from '../connect/invariants.js';
import type { StartParams } from '../http/index.js';
import type { Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';

/** How long a connect link stays valid: one hour. */
export const LINK_TTL_MS = 60 * 60_000;

interface LinkBody {
  tn: string;
  rt?: string;
  cn?: string;
  exp: number;
}

/**
 * Makes and checks connect links: `<publicUrl>/connect/start?t=…`, an HMAC-signed body naming the tenant (and
 * return path and connection to reconnect) that expires after {@link LINK_TTL_MS}. The signing key is sealed in
 * the store, so every instance of one deployment accepts every other's links.
 */
export class ConnectLinks {
  readonly #key: Buffer;
  readonly #publicUrl: string;
  readonly #now: () => number;

  private constructor(key: Buffer, publicUrl: string, now: () => number) {
    this.#key = key;
    this.#publicUrl = publicUrl;
    this.#now = now;
  }

  /** Loads (or creates, sealed in the store) the signing key shared by every instance. */
  static async create(o: {
    store: Store;
    vault: Vault;
    publicUrl: string;
    now: () => number;
  }): Promise<ConnectLinks> {
    let sealed = await o.store.getMeta(META.linkKey);
    if (!sealed)
      sealed = await o.store.setMetaIfAbsent(
        META.linkKey,
        await o.vault.seal(randomBytes(32), LINK_KEY_CONTEXT),
      );
    return new ConnectLinks(await o.vault.open(sealed, LINK_KEY_CONTEXT), o.publicUrl, o.now);
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }

  /** A start URL for a tenant. */
  create(p: StartParams, ttlMs = LINK_TTL_MS): { url: string; expiresAt: number } {
    const exp = this.#now() + ttlMs;
    const body: LinkBody = {
      tn: p.tenant,
      exp,
      ...(p.returnTo ? { rt: p.returnTo } : {}),
      ...(p.connectionId ? { cn: p.connectionId } : {}),
    };
    const b = Buffer.from(JSON.stringify(body)).toString('base64url');
    return { url: `${this.#publicUrl}/connect/start?t=${b}.${this.#mac(b)}`, expiresAt: exp };
  }

  /** The start parameters of a valid, unexpired link; undefined otherwise. */
  verify(token: string | null): StartParams | undefined {
    if (!token || token.length > 2048) return undefined;
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const b = token.slice(0, dot);
    const presented = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.#mac(b));
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
    let body: LinkBody;
    try {
      body = JSON.parse(Buffer.from(b, 'base64url').toString('utf8')) as LinkBody;
    } catch {
      return undefined;
    }
    if (typeof body.tn !== 'string' || typeof body.exp !== 'number' || this.#now() >= body.exp)
      return undefined;
    return {
      tenant: body.tn,
      ...(typeof body.rt === 'string' ? { returnTo: body.rt } : {}),
      ...(typeof body.cn === 'string' ? { connectionId: body.cn } : {}),
    };
  }
}
