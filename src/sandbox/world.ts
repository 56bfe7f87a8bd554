// Noon's side as state: projects, service accounts and keys, OAuth clients, sellers, sessions, codes, access
// tokens, OAuth requests and the ledger, with the operations the endpoints share.

import {
  createHash,
  createPublicKey,
  type KeyObject,
  randomBytes,
  randomFillSync,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import type { Clock } from './clock.js';
import { DerivedIndex } from './derived-index.js';
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

/** Random bytes drawn ahead in one call and handed out in small slices: a draw per id would cost more. */
const RANDOM_POOL_BYTES = 4096;
const randomPool = Buffer.alloc(RANDOM_POOL_BYTES);
let randomPoolOffset = RANDOM_POOL_BYTES;

/** `n` fresh random bytes, a copy of the next unused part of the pool (a large `n` is drawn on its own). */
function pooledRandomBytes(n: number): Buffer {
  if (n > 256) return randomBytes(n);
  if (randomPoolOffset + n > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const out = Buffer.allocUnsafe(n);
  randomPool.copy(out, 0, randomPoolOffset, randomPoolOffset + n);
  // Each byte goes out once: what was handed out is not kept.
  randomPool.fill(0, randomPoolOffset, randomPoolOffset + n);
  randomPoolOffset += n;
  return out;
}

export const cryptoRandomness: Randomness = {
  bytes: pooledRandomBytes,
  uuid: () => randomUUID(),
  fraction: () => pooledRandomBytes(4).readUInt32BE(0) / 2 ** 32,
};

/** Below this many remembered login jtis the cache is never swept. */
const JTI_SWEEP_MIN = 50_000;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two secrets through their SHA-256 digests (equal lengths by construction). */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = Buffer.from(storedHash, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

function oauthAccountKey(clientId: string, ownerProject: string, sellerProject: string): string {
  return `${clientId.length}:${clientId}${ownerProject.length}:${ownerProject}${sellerProject}`;
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
  /** The size at which the jti cache is next swept of expired entries (see rememberJti). */
  #jtiSweepAt = JTI_SWEEP_MIN;
  /**
   * Ids of the sessions each key opened, for ending them without a scan of every session; built on first use
   * (most sandboxes never end a session), kept up by {@link addSession}, rebuilt whenever sessions were stored
   * around it.
   */
  readonly #sessionsByKey: DerivedIndex<GatewaySession, Set<string>>;
  /** The ids of each account's keys in the order they were added. */
  readonly #keysByUser: DerivedIndex<AccountKey, string[]>;
  /** Accounts exchanges made, by client, owner and seller project (see oauthAccount). */
  readonly #oauthAccounts: DerivedIndex<ServiceAccount, string>;
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
    this.#sessionsByKey = new DerivedIndex<GatewaySession, Set<string>>(this.sessions, (map, s) => {
      if (s.endedAt !== undefined) return;
      const ids = map.get(s.keyId);
      if (ids) ids.add(s.id);
      else map.set(s.keyId, new Set([s.id]));
    });
    this.#keysByUser = new DerivedIndex<AccountKey, string[]>(this.keys, (map, k) => {
      const ids = map.get(k.userCode);
      if (ids) ids.push(k.keyId);
      else map.set(k.userCode, [k.keyId]);
    });
    this.#oauthAccounts = new DerivedIndex<ServiceAccount, string>(this.accounts, (map, a) => {
      if (a.origin !== 'oauth' || a.clientId === undefined || a.sellerProject === undefined) return;
      const k = oauthAccountKey(a.clientId, a.ownerProject, a.sellerProject);
      if (!map.has(k)) map.set(k, a.userCode);
    });
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

  /**
   * The service account an exchange made for this client and seller project (NC33), found through an index
   * rather than a scan of every account; the index is rebuilt whenever accounts were added around it.
   */
  oauthAccount(
    clientId: string,
    integratorProject: string,
    sellerProject: string,
  ): ServiceAccount | undefined {
    const code = this.#oauthAccounts.get().get(oauthAccountKey(clientId, integratorProject, sellerProject));
    const a = code === undefined ? undefined : this.accounts.get(code);
    return a?.origin === 'oauth' &&
      a.clientId === clientId &&
      a.sellerProject === sellerProject &&
      a.ownerProject === integratorProject
      ? a
      : undefined;
  }

  /** Stores a new service account. */
  addAccount(account: ServiceAccount): void {
    this.accounts.put(account.userCode, account);
    this.#oauthAccounts.added(account);
  }

  /** The ids of each account's keys in the order they were added; rebuilt whenever keys were added around it. */
  #keyIndex(): Map<string, string[]> {
    return this.#keysByUser.get();
  }

  #keysOf(userCode: string, activeOnly: boolean): AccountKey[] {
    const out: AccountKey[] = [];
    for (const id of this.#keyIndex().get(userCode) ?? []) {
      const k = this.keys.get(id);
      if (k && k.userCode === userCode && (k.active || !activeOnly)) out.push(k);
    }
    return out;
  }

  activeKeys(userCode: string): AccountKey[] {
    return this.#keysOf(userCode, true);
  }

  accountKeys(userCode: string): AccountKey[] {
    return this.#keysOf(userCode, false).sort((a, b) => a.issuedAt - b.issuedAt);
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
    this.#keysByUser.added(key);
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
    if (endSessions) this.endSessions(key.keyId, now);
  }

  // --- sessions -----------------------------------------------------------------------------------

  /** Stores a new session. */
  addSession(session: GatewaySession): void {
    this.sessions.put(session.id, session);
    this.#sessionsByKey.added(session);
  }

  /** Ends every open session of a key. */
  endSessions(keyId: string, now: number): void {
    const byKey = this.#sessionsByKey.get();
    const ids = byKey.get(keyId);
    if (!ids) return;
    byKey.delete(keyId);
    for (const id of ids) {
      const s = this.sessions.get(id);
      if (s && s.keyId === keyId && s.endedAt === undefined) this.sessions.put(id, { ...s, endedAt: now });
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
    // Swept when it has grown past twice what the last sweep left, so a cache full of live jtis is not scanned
    // on every login.
    if (this.#jtis.size > this.#jtiSweepAt) {
      for (const [k, t] of this.#jtis) if (t <= now) this.#jtis.delete(k);
      this.#jtiSweepAt = Math.max(JTI_SWEEP_MIN, this.#jtis.size * 2);
    }
    return true;
  }

  // --- OAuth requests -----------------------------------------------------------------------------

  setRequestStatus(id: string, status: OAuthRequestStatus, extra: Partial<OAuthRequest> = {}): void {
    const r = this.requests.get(id);
    if (r) this.requests.put(id, { ...r, ...extra, status, updatedAt: this.clock.now() });
  }
}
