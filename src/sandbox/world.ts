// Noon's side as state: projects, service accounts and keys, OAuth clients, sellers, sessions, codes, access
// tokens, OAuth requests and the ledger, with the operations the endpoints share.

import {
  createHash,
  createPublicKey,
  type KeyObject,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import type { Clock } from './clock.js';
import type { KeyPair, KeyPool } from './key-pool.js';
import {
  type AccessTokenRecord,
  type AccountKey,
  type AuthCode,
  type GatewaySession,
  type KeyFile,
  type LedgerEntry,
  MAX_KEYS_PER_ACCOUNT,
  type OAuthClient,
  type OAuthRequest,
  type OAuthRequestStatus,
  type Project,
  type Seller,
  type ServiceAccount,
} from './model.js';
import type { RecordStore, Table } from './records.js';

/** Randomness the sandbox uses, injectable for tests. */
export interface Randomness {
  bytes(n: number): Buffer;
  uuid(): string;
  fraction(): number;
}

export const cryptoRandomness: Randomness = {
  bytes: (n) => randomBytes(n),
  uuid: () => randomUUID(),
  fraction: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
};

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two secrets through their SHA-256 digests (equal lengths by construction). */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = Buffer.from(storedHash, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

export interface LedgerQuery {
  ownerProject?: string;
  sellerProject?: string;
  via?: LedgerEntry['via'];
  delivered?: boolean;
}

export class World {
  readonly projects: Table<Project>;
  readonly accounts: Table<ServiceAccount>;
  readonly keys: Table<AccountKey>;
  readonly clients: Table<OAuthClient>;
  readonly sellers: Table<Seller>;
  readonly sessions: Table<GatewaySession>;
  readonly codes: Table<AuthCode>;
  readonly tokens: Table<AccessTokenRecord>;
  readonly requests: Table<OAuthRequest>;
  readonly ledgerTable: Table<LedgerEntry>;
  readonly meta: Table<string>;
  readonly #publicKeys = new Map<string, KeyObject>();
  /** Login `jti`s seen, with when they may be forgotten (NC10: a replay within 10 min → 401). */
  readonly #jtis = new Map<string, number>();
  #ledgerSeq: number;

  constructor(
    records: RecordStore,
    readonly clock: Clock,
    readonly random: Randomness,
    readonly pool: KeyPool,
  ) {
    this.projects = records.table('project');
    this.accounts = records.table('account');
    this.keys = records.table('key');
    this.clients = records.table('client');
    this.sellers = records.table('seller');
    this.sessions = records.table('session');
    this.codes = records.table('code');
    this.tokens = records.table('token');
    this.requests = records.table('oauth_request');
    this.ledgerTable = records.table('ledger');
    this.meta = records.table('meta');
    let max = 0;
    for (const e of this.ledgerTable.values()) max = Math.max(max, e.seq);
    this.#ledgerSeq = max;
  }

  /** A fresh opaque secret (codes, session ids): 256 bits, base64url. */
  secret(): string {
    return this.random.bytes(32).toString('base64url');
  }

  // --- accounts and keys ---------------------------------------------------------------------------

  account(ref: {
    userCode?: string | undefined;
    channelIdentifier?: string | undefined;
  }): ServiceAccount | undefined {
    // NC34: user_code wins when both are given.
    if (ref.userCode !== undefined) return this.accounts.get(ref.userCode);
    if (ref.channelIdentifier !== undefined) {
      for (const a of this.accounts.values()) if (a.channelIdentifier === ref.channelIdentifier) return a;
    }
    return undefined;
  }

  activeKeys(userCode: string): AccountKey[] {
    const out: AccountKey[] = [];
    for (const k of this.keys.values()) if (k.userCode === userCode && k.active) out.push(k);
    return out;
  }

  accountKeys(userCode: string): AccountKey[] {
    const out: AccountKey[] = [];
    for (const k of this.keys.values()) if (k.userCode === userCode) out.push(k);
    return out.sort((a, b) => a.issuedAt - b.issuedAt);
  }

  publicKey(keyId: string): KeyObject | undefined {
    let k = this.#publicKeys.get(keyId);
    if (!k) {
      const rec = this.keys.get(keyId);
      if (!rec) return undefined;
      k = createPublicKey(rec.publicKeyPem);
      this.#publicKeys.set(keyId, k);
    }
    return k;
  }

  newKeyId(): string {
    return this.random.bytes(16).toString('hex');
  }

  /**
   * Adds a key to an account from a generated pair and records it in the ledger. The caller checked the
   * 5-key limit before taking the pair; it is checked again here because taking a pair may have waited.
   */
  addKey(
    account: ServiceAccount,
    pair: KeyPair,
    via: LedgerEntry['via'],
    extra: { oauthRequestId?: string; sellerProject?: string } = {},
  ): { key: AccountKey; file: KeyFile; ledger: LedgerEntry } | undefined {
    if (this.activeKeys(account.userCode).length >= MAX_KEYS_PER_ACCOUNT) return undefined;
    const now = this.clock.now();
    const key: AccountKey = {
      keyId: this.newKeyId(),
      userCode: account.userCode,
      publicKeyPem: pair.publicPem,
      fingerprint: pair.fingerprint,
      issuedAt: now,
      active: true,
    };
    this.keys.put(key.keyId, key);
    if (pair.publicKey) this.#publicKeys.set(key.keyId, pair.publicKey);
    const ledger: LedgerEntry = {
      seq: ++this.#ledgerSeq,
      keyId: key.keyId,
      userCode: account.userCode,
      channelIdentifier: account.channelIdentifier,
      ownerProject: account.ownerProject,
      fingerprint: pair.fingerprint,
      issuedAt: now,
      via,
      delivered: false,
      ...(extra.sellerProject !== undefined ? { sellerProject: extra.sellerProject } : {}),
      ...(extra.oauthRequestId !== undefined ? { oauthRequestId: extra.oauthRequestId } : {}),
    };
    this.ledgerTable.put(String(ledger.seq), ledger);
    const file: KeyFile = {
      key_id: key.keyId,
      private_key: pair.privatePem,
      channel_identifier: account.channelIdentifier,
      project_code: extra.sellerProject ?? account.projects[0] ?? account.ownerProject,
      type: 'apijwt',
      issued_at: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    return { key, file, ledger };
  }

  markDelivered(seq: number): void {
    const e = this.ledgerTable.get(String(seq));
    if (e && !e.delivered) this.ledgerTable.put(String(seq), { ...e, delivered: true });
  }

  deactivateKey(key: AccountKey, endSessions: boolean): void {
    const now = this.clock.now();
    this.keys.put(key.keyId, { ...key, active: false, deactivatedAt: now });
    for (const e of this.ledgerTable.values()) {
      if (e.keyId === key.keyId && e.removedAt === undefined)
        this.ledgerTable.put(String(e.seq), { ...e, removedAt: now });
    }
    if (endSessions) {
      for (const s of this.sessions.values()) {
        if (s.keyId === key.keyId && s.endedAt === undefined) this.sessions.put(s.id, { ...s, endedAt: now });
      }
    }
  }

  ledger(q: LedgerQuery = {}): LedgerEntry[] {
    const out: LedgerEntry[] = [];
    for (const e of this.ledgerTable.values()) {
      if (q.ownerProject !== undefined && e.ownerProject !== q.ownerProject) continue;
      if (q.sellerProject !== undefined && e.sellerProject !== q.sellerProject) continue;
      if (q.via !== undefined && e.via !== q.via) continue;
      if (q.delivered !== undefined && e.delivered !== q.delivered) continue;
      out.push({ ...e });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  // --- login jti replay cache ---------------------------------------------------------------------

  /** Records a login `jti`; false when it was seen within the window. */
  rememberJti(jti: string, windowMs: number): boolean {
    const now = this.clock.now();
    const until = this.#jtis.get(jti);
    if (until !== undefined && until > now) return false;
    this.#jtis.set(jti, now + windowMs);
    if (this.#jtis.size > 50_000) {
      for (const [k, t] of this.#jtis) if (t <= now) this.#jtis.delete(k);
    }
    return true;
  }

  // --- OAuth requests -----------------------------------------------------------------------------

  setRequestStatus(id: string, status: OAuthRequestStatus, extra: Partial<OAuthRequest> = {}): void {
    const r = this.requests.get(id);
    if (r) this.requests.put(id, { ...r, ...extra, status, updatedAt: this.clock.now() });
  }
}
