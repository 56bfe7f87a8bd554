// Connect links: signed, expiring start URLs that carry the tenant (and return path, and the connection to
// reconnect), made by the REST API or the dashboard for the integrator's own authenticated users. The start
// endpoint trusts only what such a link says, and counts its starts in the store: by default a link starts one
// connect, whichever instance serves it.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LINK_KEY_CONTEXT, META } from '../connect/invariants.js';
import type { StartParams } from '../http/index.js';
import type { Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';

/** How long a used link's counter row outlives the link (clock skew between instances). */
const LINK_ROW_MARGIN_MS = 60 * 60_000;

/** How long a connect link stays valid unless configured otherwise: ten minutes. */
export const LINK_TTL_MS = 10 * 60_000;

interface LinkBody {
  /** The link's own id: its starts are counted under it. */
  id?: string;
  tn: string;
  rt?: string;
  cn?: string;
  exp: number;
  /** The e-mail variant: a GET shows a Continue button; only the POST it sends starts (and counts). */
  cf?: 1;
}

/** A link read back: what it starts, and how it may be used. */
export interface ConnectLink {
  id: string;
  params: StartParams;
  expiresAt: number;
  /** The e-mail-safe variant (GET shows Continue, POST starts). */
  confirm: boolean;
}

/** Options of a link being made. */
export interface LinkOptions {
  /** Its lifetime (default: the links' configured lifetime). */
  ttlMs?: number;
  /** The e-mail-safe variant: opening it shows a Continue button, so a mail scanner's GET starts nothing. */
  confirm?: boolean;
}

/**
 * Makes and checks connect links: `<publicUrl>/connect/start?t=…`, an HMAC-signed body naming the tenant (and
 * return path and connection to reconnect) that expires after the configured lifetime. The signing key is sealed
 * in the store, so every instance of one deployment accepts every other's links; starts are counted in the
 * store too, so a link's limit holds across instances and restarts.
 */
export class ConnectLinks {
  readonly #key: Buffer;
  readonly #publicUrl: string;
  readonly #now: () => number;
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #maxStarts: number;

  private constructor(
    key: Buffer,
    o: { publicUrl: string; now: () => number; store: Store; ttlMs: number; maxStarts: number },
  ) {
    this.#key = key;
    this.#publicUrl = o.publicUrl;
    this.#now = o.now;
    this.#store = o.store;
    this.#ttlMs = o.ttlMs;
    this.#maxStarts = o.maxStarts;
  }

  /**
   * Loads (or creates, sealed in the store) the signing key shared by every instance. `ttlMs` is the default
   * lifetime of a new link (10 minutes), `maxStarts` how many starts one link allows (1: single use).
   */
  static async create(o: {
    store: Store;
    vault: Vault;
    publicUrl: string;
    now: () => number;
    ttlMs?: number;
    maxStarts?: number;
  }): Promise<ConnectLinks> {
    let sealed = await o.store.getMeta(META.linkKey);
    if (!sealed)
      sealed = await o.store.setMetaIfAbsent(
        META.linkKey,
        await o.vault.seal(randomBytes(32), LINK_KEY_CONTEXT),
      );
    return new ConnectLinks(await o.vault.open(sealed, LINK_KEY_CONTEXT), {
      publicUrl: o.publicUrl,
      now: o.now,
      store: o.store,
      ttlMs: o.ttlMs ?? LINK_TTL_MS,
      maxStarts: o.maxStarts ?? 1,
    });
  }

  /** How many starts one link allows. */
  /**
   * A key for another purpose of the service (the dashboard's CSRF tokens), derived from the sealed link key by
   * HMAC: every instance derives the same, and the store holds nothing more to re-wrap on a master key rotation.
   */
  derivedKey(purpose: string): Buffer {
    return createHmac('sha256', this.#key).update(`noon-connect derived key\0${purpose}`).digest();
  }

  get maxStarts(): number {
    return this.#maxStarts;
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }

  /** A start URL for a tenant (a number as the second argument is the lifetime, as before). */
  create(p: StartParams, options: number | LinkOptions = {}): { url: string; expiresAt: number } {
    const o: LinkOptions = typeof options === 'number' ? { ttlMs: options } : options;
    const exp = this.#now() + (o.ttlMs ?? this.#ttlMs);
    const body: LinkBody = {
      id: randomBytes(16).toString('base64url'),
      tn: p.tenant,
      exp,
      ...(p.returnTo ? { rt: p.returnTo } : {}),
      ...(p.connectionId ? { cn: p.connectionId } : {}),
      ...(o.confirm ? { cf: 1 as const } : {}),
    };
    const b = Buffer.from(JSON.stringify(body)).toString('base64url');
    return { url: `${this.#publicUrl}/connect/start?t=${b}.${this.#mac(b)}`, expiresAt: exp };
  }

  /** A valid, unexpired link; undefined otherwise. Reading counts nothing. */
  read(token: string | null): ConnectLink | undefined {
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
      // A link made before links had ids is counted under its signature, which is as unique.
      id: typeof body.id === 'string' ? body.id : token.slice(dot + 1),
      params: {
        tenant: body.tn,
        ...(typeof body.rt === 'string' ? { returnTo: body.rt } : {}),
        ...(typeof body.cn === 'string' ? { connectionId: body.cn } : {}),
      },
      expiresAt: body.exp,
      confirm: body.cf === 1,
    };
  }

  /** The start parameters of a valid, unexpired link; undefined otherwise. */
  verify(token: string | null): StartParams | undefined {
    return this.read(token)?.params;
  }

  /**
   * Counts one start of the link in the store; true while the link has starts left (the first start of a
   * single-use link), false once they are used up, on any instance.
   */
  async consume(link: ConnectLink): Promise<boolean> {
    // The row outlives the link by an hour, so an instance whose clock runs ahead cannot purge it while one
    // whose clock runs behind still takes the link as unexpired.
    const n = await this.#store.hitCounter(`link:${link.id}`, 0, link.expiresAt + LINK_ROW_MARGIN_MS);
    return n <= this.#maxStarts;
  }
}
