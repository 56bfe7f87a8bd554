// The connector's persistent records and the one async Store interface every backend implements (SQLite
// embedded by default, Postgres for several instances). Atomic steps are single statements or transactions in
// the database, never in-process locks, so they hold across instances.

/** Every attempt status, in the order a connect passes them, then the ends and the orphan path. */
export const ATTEMPT_STATUSES = Object.freeze([
  'STARTED',
  'CLAIMED',
  'TOKEN_ISSUED',
  'EXCHANGE_SENT',
  'KEY_STORED',
  'CONNECTED',
  'FAILED',
  'NEEDS_ATTENTION',
  'ORPHAN_SUSPECTED',
  'REPAIRED',
  'NEEDS_RECONNECT',
] as const);

export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

/** Statuses that end an attempt: nothing more is sent upstream for it (a repair's CONNECTED turns REPAIRED at once). */
export const TERMINAL_STATUSES: readonly AttemptStatus[] = Object.freeze([
  'CONNECTED',
  'FAILED',
  'NEEDS_ATTENTION',
  'REPAIRED',
  'NEEDS_RECONNECT',
] as const);

/**
 * What an attempt does: `connect` through OAuth; `rotate` a connection's key through the API User Service;
 * `repair` an orphan: a connect attempt becomes one when its orphan repair starts (its key then comes from the
 * API User Service's credentials/create, not from token/exchange) and ends REPAIRED.
 */
export type AttemptKind = 'connect' | 'rotate' | 'repair';

export interface Attempt {
  id: string;
  kind: AttemptKind;
  tenant: string;
  /** SHA-256 of the connect link's state; null for an attempt no link starts (rotation). */
  stateHash: string | null;
  environment: string;
  returnTo: string;
  status: AttemptStatus;
  createdAt: number;
  expiresAt: number;
  updatedAt: number;
  consumedAt: number | null;
  /** Set when the flow reconnects a known connection. */
  connectionId: string | null;
  sellerProject: string | null;
  /** Sealed access token (vault); null once spent or never issued. */
  accessTokenSealed: string | null;
  tokenExpiresAt: number | null;
  /** Sealed raw token/exchange response body, kept from KEY_STORED on. */
  rawExchangeSealed: string | null;
  oauthRequestId: string | null;
  keyId: string | null;
  channelIdentifier: string | null;
  exchangeSends: number;
  errorCode: string | null;
  errorDetail: string | null;
  /**
   * When an attempt that kept a key's raw answer for an operator (NEEDS_ATTENTION) was resolved, and how: only
   * then is the answer dropped and the attempt left to retention. Null while unresolved (and for every other
   * attempt). Absent on records built before the field existed.
   */
  resolvedAt?: number | null;
  resolution?: AttemptResolution | null;
}

/**
 * How a kept answer stopped mattering: an operator decided (`operator`), or the key it holds is no longer
 * active at Noon (`key-removed`), so the copy cannot be the only one of a live key.
 */
export type AttemptResolution = 'operator' | 'key-removed';

/** What one bounded retention batch removed (each table at most the batch's limit). */
export interface PurgeResult {
  attempts: number;
  events: number;
  deliveries: number;
  /** Expired counter rows (limit windows, used connect links). */
  counters: number;
}

/** Rows kept, and of them how many retention may purge now (older than the cut-off). */
export interface RetentionCounts {
  attempts: number;
  events: number;
  deliveries: number;
  /** Attempts still holding a sealed raw answer (waiting for an operator's decision). */
  heldAnswers: number;
  /** Rows past the cut-off that the next purge removes. */
  purgeable: { attempts: number; events: number; deliveries: number };
}

export interface NewAttempt {
  id: string;
  kind?: AttemptKind;
  status?: AttemptStatus;
  sellerProject?: string | null;
  tenant: string;
  /** SHA-256 of the connect link's state; null for an attempt no link starts (rotation). */
  stateHash: string | null;
  environment: string;
  returnTo: string;
  createdAt: number;
  expiresAt: number;
  connectionId?: string | null;
}

export type AttemptPatch = Partial<
  Pick<
    Attempt,
    | 'kind'
    | 'sellerProject'
    | 'accessTokenSealed'
    | 'tokenExpiresAt'
    | 'rawExchangeSealed'
    | 'oauthRequestId'
    | 'keyId'
    | 'channelIdentifier'
    | 'exchangeSends'
    | 'errorCode'
    | 'errorDetail'
    | 'connectionId'
  >
>;

export type ClaimResult =
  | { outcome: 'claimed'; attempt: Attempt }
  | { outcome: 'expired'; attempt: Attempt }
  | { outcome: 'consumed'; attempt: Attempt }
  | { outcome: 'unknown' };

/** Every connection status, in display order. The one list: the connector, the CLI and the REST API read it. */
export const CONNECTION_STATUSES = Object.freeze(['active', 'needs_reconnect', 'disconnected'] as const);

export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

export interface Connection {
  id: string;
  tenant: string;
  sellerProject: string;
  status: ConnectionStatus;
  /** The credential in use. */
  credentialId: string | null;
  keyId: string | null;
  channelIdentifier: string | null;
  userCode: string | null;
  oauthRequestId: string | null;
  createdAt: number;
  updatedAt: number;
  connectedAt: number | null;
  lastHealthAt: number | null;
  lastHealthOk: boolean | null;
  lastHealthDetail: string | null;
}

export type CredentialState = 'active' | 'retiring' | 'removed';

export interface Credential {
  id: string;
  connectionId: string;
  tenant: string;
  sellerProject: string;
  keyId: string;
  channelIdentifier: string;
  /** Sealed key file JSON. */
  sealed: string;
  state: CredentialState;
  createdAt: number;
  removedAt: number | null;
}

export interface EventRecord {
  id: string;
  type: string;
  tenant: string;
  connectionId: string | null;
  attemptId: string | null;
  /** JSON text; metadata only, never a secret. */
  payload: string;
  createdAt: number;
}

/** An event to append, with the webhook endpoints it must reach (delivery rows commit with the event). */
export interface NewEvent extends EventRecord {
  endpoints: readonly string[];
}

export interface Delivery {
  eventId: string;
  endpoint: string;
  attempts: number;
  nextAt: number;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  leaseUntil: number | null;
}

/** One sealed value and what its vault context is made of. */
export interface SealedValue {
  column: 'attempt.access_token' | 'attempt.raw_exchange' | 'credential.sealed' | 'meta';
  /** Row id (meta: the name). */
  id: string;
  /** Paging key: `<column>|<id>`. */
  key: string;
  sealed: string;
  tenant: string | null;
  sellerProject: string | null;
}

/** What a committed state change may carry along atomically. */
export interface SideEffects {
  events?: NewEvent[];
  /** Flush the commit to disk before returning (see SqlDriver.transaction). */
  durable?: boolean;
  /**
   * `transition` only: apply it only if the row's `updated_at` still equals this value, i.e. nobody moved the
   * attempt since the caller read it (a status can be left and entered again, e.g. EXCHANGE_SENT by a repair).
   */
  ifUpdatedAt?: number;
}

/** A signed-in dashboard session, known by the SHA-256 of its cookie value. */
export interface AdminSession {
  idHash: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** A REST API token as stored: its hash and recognisable prefix, never the token itself. */
export interface ApiTokenRecord {
  /** The token's public prefix (`nct_…`): its id, shown in listings and the audit log. */
  prefix: string;
  /** SHA-256 (hex) of the whole token. */
  hash: string;
  name: string;
  /** The one tenant it may act for; null: every tenant. */
  tenant: string | null;
  createdAt: number;
  /** Who made it: `admin:<session>`, `token:<prefix>`, `api-token` or `cli`. */
  createdBy: string;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** One audit record: who did what, to which connection, when. Metadata only, never a secret. */
export interface AuditEntry {
  id: string;
  at: number;
  /** `token:<prefix>`, `api-token` (the configured one), `admin:<session>`, `scheduler` or `cli`. */
  actor: string;
  action: string;
  tenant: string | null;
  connectionId: string | null;
  /** `ok`, an HTTP status, or an error code. */
  outcome: string;
  detail: string | null;
}

/**
 * What the service keeps between requests so any instance may answer any request: admin sessions, API tokens,
 * the audit log, and leases for work one instance should do at a time.
 */
export interface ServiceStateStore {
  createSession(s: { idHash: string; createdAt: number; expiresAt: number }): Promise<void>;
  /** The session, when it exists, is not revoked and has not expired at `now`. */
  getSession(idHash: string, now: number): Promise<AdminSession | undefined>;
  /** Revokes the session for every instance; false when it was unknown or already revoked. */
  revokeSession(idHash: string, now: number): Promise<boolean>;
  /** Keeps one message for the session's next page (replacing any). */
  setSessionFlash(idHash: string, flash: string): Promise<void>;
  /** The session's message, taken atomically (a second take gets nothing). */
  takeSessionFlash(idHash: string): Promise<string | undefined>;

  createApiToken(t: ApiTokenRecord): Promise<void>;
  findApiToken(hash: string): Promise<ApiTokenRecord | undefined>;
  getApiToken(prefix: string): Promise<ApiTokenRecord | undefined>;
  listApiTokens(q?: { tenant?: string }): Promise<ApiTokenRecord[]>;
  /** Revokes the token; false when it was unknown or already revoked. */
  revokeApiToken(prefix: string, now: number): Promise<boolean>;
  /** Records a use, at most once per `everyMs` (one conditional statement). */
  touchApiToken(prefix: string, now: number, everyMs: number): Promise<void>;

  appendAudit(e: AuditEntry): Promise<void>;
  listAudit(q?: {
    limit?: number;
    tenant?: string;
    connectionId?: string;
    actor?: string;
  }): Promise<AuditEntry[]>;

  /**
   * Takes (or renews, for the same owner) the named lease until `now + ttlMs`, by compare-and-set: true for
   * exactly one owner at a time while the lease runs.
   */
  tryLease(name: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, when `owner` still holds it. */
  releaseLease(name: string, owner: string): Promise<void>;

  /**
   * Marks an active connection whose key `keyId` is gone upstream as needs_reconnect, with its events, in one
   * transaction; false (and no event) when it is no longer active on that key.
   */
  markNeedsReconnect(connectionId: string, keyId: string, now: number, events: NewEvent[]): Promise<boolean>;
  /** Deletes expired or revoked sessions and audit records older than `auditBefore`, at most `limit` each. */
  purgeServiceState(q: { now: number; auditBefore: number; limit: number }): Promise<number>;
}

export interface Store extends ServiceStateStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies pending migrations; safe when several processes start at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Checks the database answers. */
  ping(): Promise<void>;
  /**
   * After a secret was deleted: has the engine let go of the old copies it still holds, where it can (SQLite:
   * deleted content is overwritten as it is freed, and this truncates the WAL after a checkpoint). Postgres keeps
   * dead row versions until VACUUM. Optional; best effort.
   */
  scrub?(): Promise<void>;

  // meta: small named values (vault key fingerprints, settings)
  getMeta(name: string): Promise<string | undefined>;
  /** Sets a value unless one exists; returns the value now stored. */
  setMetaIfAbsent(name: string, value: string): Promise<string>;
  setMeta(name: string, value: string): Promise<void>;

  // attempts
  createAttempt(a: NewAttempt): Promise<void>;
  /** ONE atomic consume of the state's record (S5): the first caller gets `claimed` (or `expired`). */
  claimAttempt(stateHash: string, now: number): Promise<ClaimResult>;
  getAttempt(id: string): Promise<Attempt | undefined>;
  /** Compare-and-set on status: moves the attempt only if it is still in `from`; false otherwise. */
  transition(
    id: string,
    from: AttemptStatus | readonly AttemptStatus[],
    to: AttemptStatus,
    patch: AttemptPatch,
    now: number,
    effects?: SideEffects,
  ): Promise<boolean>;
  /**
   * Commits the raw exchange body (sealed) and KEY_STORED in one durable transaction (SQLite
   * synchronous=FULL, Postgres synchronous_commit=on), only from EXCHANGE_SENT.
   */
  storeExchangeBody(id: string, sealedBody: string, now: number): Promise<boolean>;
  listAttempts(q: {
    statuses?: readonly AttemptStatus[];
    updatedBefore?: number;
    tenant?: string;
    kind?: AttemptKind;
    connectionId?: string;
    sellerProject?: string;
    limit?: number;
    /** `oldest` orders by last update, oldest first (the reconciler); default newest created first. */
    order?: 'oldest' | 'newest';
    /** Only attempts no operator has resolved (see {@link Store.resolveAttempt}). */
    unresolved?: boolean;
  }): Promise<Attempt[]>;

  /** How many attempts are in these statuses; `unresolved` leaves out those an operator has resolved. */
  countAttempts(statuses: readonly AttemptStatus[], q?: { unresolved?: boolean }): Promise<number>;
  /** Fails every STARTED attempt past its expiry in one statement; returns how many. */
  expireStarted(now: number): Promise<number>;

  // one exchange in flight per (tenant, seller project)
  takeExchangeSlot(tenant: string, sellerProject: string, attemptId: string, now: number): Promise<boolean>;
  releaseExchangeSlot(tenant: string, sellerProject: string, attemptId: string): Promise<void>;
  getExchangeSlot(
    tenant: string,
    sellerProject: string,
  ): Promise<{ attemptId: string; takenAt: number } | undefined>;

  // connections and credentials
  getConnection(id: string): Promise<Connection | undefined>;
  findConnection(tenant: string, sellerProject: string): Promise<Connection | undefined>;
  listConnections(q?: { tenant?: string; status?: ConnectionStatus }): Promise<Connection[]>;
  /**
   * In one transaction: upserts the (tenant, seller project) connection, adds the credential as active, marks
   * the previous active one `retiring`, moves the attempt to CONNECTED (from KEY_STORED) and frees the exchange
   * slot the attempt held. Not flushed on its own: the key came from the raw answer the KEY_STORED commit made
   * durable, and a commit lost to a power cut leaves that KEY_STORED attempt for the reconciler.
   */
  connect(input: {
    attemptId: string;
    connectionId: string;
    credential: Omit<Credential, 'state' | 'removedAt'>;
    userCode: string | null;
    oauthRequestId: string | null;
    now: number;
    events?: NewEvent[];
  }): Promise<{ connection: Connection; previous: Credential | undefined } | undefined>;
  getCredential(id: string): Promise<Credential | undefined>;
  listCredentials(q: {
    connectionId?: string;
    states?: readonly CredentialState[];
    channelIdentifier?: string;
    sellerProject?: string;
  }): Promise<Credential[]>;
  markCredentialRemoved(id: string, now: number, effects?: SideEffects): Promise<boolean>;
  updateConnection(
    id: string,
    patch: Partial<
      Pick<Connection, 'status' | 'lastHealthAt' | 'lastHealthOk' | 'lastHealthDetail' | 'userCode'>
    >,
    now: number,
    effects?: SideEffects,
  ): Promise<boolean>;

  // vault re-wrap: every sealed value, and a compare-and-set to replace one
  listSealedValues(q: { after?: string; limit: number }): Promise<SealedValue[]>;
  replaceSealed(v: Pick<SealedValue, 'column' | 'id'>, from: string, to: string): Promise<boolean>;

  /**
   * In one transaction: marks the connection disconnected and its active credentials retiring; returns the
   * credentials left to remove upstream (active and retiring), or undefined when it was already disconnected.
   */
  disconnectConnection(id: string, now: number, effects?: SideEffects): Promise<Credential[] | undefined>;

  // events and webhook deliveries (outbox)
  appendEvents(events: NewEvent[]): Promise<void>;
  listEvents(q?: { limit?: number; tenant?: string; connectionId?: string }): Promise<EventRecord[]>;
  /** Leases due deliveries so only one worker (of any instance) sends each. */
  leaseDueDeliveries(
    now: number,
    leaseMs: number,
    limit: number,
  ): Promise<(Delivery & { event: EventRecord })[]>;
  completeDelivery(eventId: string, endpoint: string, status: number, now: number): Promise<void>;
  failDelivery(
    eventId: string,
    endpoint: string,
    status: number | null,
    error: string,
    nextAt: number,
  ): Promise<void>;
  listDeliveries(q?: { pending?: boolean; limit?: number; eventId?: string }): Promise<Delivery[]>;

  // shared counters: limit windows and single-use links, the same for every instance and across restarts
  /**
   * Adds `by` (default 1) to the named count of one window in one atomic statement and returns the new count.
   * The row may be purged once `expiresAt` has passed.
   */
  hitCounter(name: string, windowStart: number, expiresAt: number, by?: number): Promise<number>;
  /** The named count of one window (0 when never hit). */
  readCounter(name: string, windowStart: number): Promise<number>;

  // retention
  /**
   * Resolves a NEEDS_ATTENTION attempt and drops its sealed raw answer, in one statement; false when the attempt
   * is not waiting for a decision (another status, or already resolved).
   */
  resolveAttempt(id: string, resolution: AttemptResolution, now: number): Promise<boolean>;
  /**
   * One bounded batch of retention, each table at most `limit` rows: ended attempts last updated
   * before `before` that hold no sealed value (an unresolved NEEDS_ATTENTION attempt keeps its answer, and
   * so itself, until it is resolved), deliveries delivered before it, events created before it that no
   * delivery row still needs, and counter rows expired at `now`.
   */
  purge(q: { before: number; now: number; limit: number }): Promise<PurgeResult>;
  /** Rows kept, and how many of them are older than `before` (what retention would purge). */
  retentionCounts(before: number): Promise<RetentionCounts>;
}
