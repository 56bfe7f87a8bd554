// The connector's public shapes: its options, what its calls return, and the step names a test can stop at.

import type { NoonApiUsers, NoonClient, NoonOAuth, Whoami } from '../client/index.js';
import type { AttemptStatus, Connection, Store } from '../store/index.js';
import type { SigningKeyStore, Vault } from '../vault/index.js';
import type { AttemptErrorCode } from './errors.js';
import type { ConnectEvent } from './events.js';

/**
 * Named points between steps, for the step hook: each is passed once the step before it is committed (or, for
 * TOKEN_CREATED and EXCHANGE_ANSWERED, reached), so a test can stop a process exactly there.
 */
export type Step =
  | 'CLAIMED'
  | 'TOKEN_CREATED'
  | 'TOKEN_ISSUED'
  | 'EXCHANGE_SENT'
  | 'EXCHANGE_ANSWERED'
  | 'KEY_STORED'
  | 'CONNECTED'
  | 'ROTATION_KEY_STORED';

/** One line of the connector's log: statuses, codes and ids only, never a secret value. */
export interface ConnectorLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  attemptId?: string;
  tenant?: string;
  sellerProject?: string;
  connectionId?: string;
  status?: string;
  code?: string;
  requestId?: string;
}

/** The Noon clients the connector calls through. */
export interface NoonParts {
  client: NoonClient;
  /** The integrator's own session: token/create, token/exchange and the API User Service run over it. */
  oauth: NoonOAuth;
  apiUsers: NoonApiUsers;
}

/** Options of {@link createConnector}; checked, copied and frozen when the connector is built. */
export interface ConnectorOptions {
  noon: NoonParts;
  store: Store;
  vault: Vault;
  /** Names the Noon environment; a state issued for one is refused by another (S9). */
  environment: string;
  /** The connector's public URL; an https URL makes the binding cookie `__Host-` and `Secure`. */
  publicUrl: string;
  /** Passed on the authorize URL when the client has several registered redirect URIs (NC15). */
  redirectUri?: string;
  /** Allow-listed return path prefixes (default `['/']`). */
  returnPaths?: readonly string[];
  /** Life of a connect link, at most 10 minutes (default 10 minutes). */
  stateTtlMs?: number;
  clock?: { now(): number };
  randomBytes?: (n: number) => Buffer;
  uuid?: () => string;
  sleep?: (ms: number) => Promise<void>;
  webhooks?: { endpoints: readonly string[]; secret: string };
  onEvent?: (event: ConnectEvent) => void;
  /** Called after each step is committed (or, for TOKEN_CREATED and EXCHANGE_ANSWERED, reached). */
  stepHook?: (step: Step, attempt: { id: string; tenant: string }) => void | Promise<void>;
  /** Log in as the seller and call whoami before reporting connected (default true). */
  verifyLogin?: boolean;
  logger?: (entry: ConnectorLogEntry) => void;
  /** A second attempt for a seller finishes as "already connected" if the first connected this recently. */
  alreadyConnectedWindowMs?: number;
  /** How long a second attempt waits for the seller's exchange slot. */
  slotWaitMs?: number;
  /** Reconciler thresholds: an attempt idle this long in a state is taken over. */
  reconcileAfterMs?: Partial<
    Record<'CLAIMED' | 'TOKEN_ISSUED' | 'EXCHANGE_SENT' | 'KEY_STORED' | 'retiring', number>
  >;
  /** Seller sessions kept with their imported keys (LRU). */
  sellerSessionCacheSize?: number;
  /**
   * Where sellers' private keys go (opt-in), e.g. `Pkcs11KeyProvider.signingKeys()`: each new key is imported
   * there right after its raw answer is committed, the stored key file keeps no private key, and every login for
   * the seller is signed there. Rotation and disconnect destroy the key there too. Default: keys stay sealed in
   * the store.
   */
  signingKeys?: SigningKeyStore;
  /**
   * Retention, run by the reconciler: ended attempts, delivered events and their deliveries older than `afterMs`
   * are purged in batches of `batchSize` rows (default 200), at most `maxBatches` batches a pass (default 1000),
   * with a short pause between batches so the connect flow's own queries are never queued behind more than one.
   * A key's raw answer kept for an operator stays, with its attempt, until it is resolved. Default: none.
   */
  retention?: { afterMs: number; batchSize?: number; maxBatches?: number };
}

/** How a failed callback ended: the attempt's error code, or the status it ended in. */
export type FailedCode = AttemptErrorCode | 'NEEDS_ATTENTION' | 'NEEDS_RECONNECT' | 'FAILED';

/** What a callback came to; the HTTP layer turns each kind into a page. */
export type CallbackOutcome =
  | { kind: 'rejected'; status: 400 | 405 | 414; reason: string }
  | { kind: 'expired'; attemptId: string }
  | { kind: 'denied'; attemptId: string; returnTo: string }
  | {
      kind: 'connected';
      attemptId: string;
      tenant: string;
      sellerProject: string;
      connectionId: string;
      returnTo: string;
      reconnected: boolean;
    }
  | {
      kind: 'already_connected';
      attemptId: string;
      tenant: string;
      sellerProject: string | null;
      returnTo: string;
    }
  | { kind: 'failed'; attemptId: string; code: FailedCode; reconnect: boolean; oauthRequestId: string | null }
  | { kind: 'pending'; attemptId: string; status: AttemptStatus }
  | { kind: 'unavailable'; reason: string };

/** A started connect: where to send the browser, and the cookie that binds the link to it. */
export interface StartResult {
  url: string;
  attemptId: string;
  expiresAt: number;
  /** `Set-Cookie` value binding the link to this browser. */
  setCookie: string;
}

/** What one reconciler pass did; counted by what this pass moved, not by what it read. */
export interface ReconcileReport {
  examined: number;
  failed: number;
  resumed: number;
  orphans: number;
  repaired: number;
  needsReconnect: number;
  connected: number;
  retiredKeys: number;
}

/** A connection's health check: seller login and whoami with its key. */
export interface HealthResult {
  ok: boolean;
  checkedAt: number;
  detail: string;
  whoami?: Whoami;
}

/** A connection as callers see it: metadata only, never a key. */
export interface ConnectionView {
  id: string;
  tenant: string;
  sellerProject: string;
  status: Connection['status'];
  keyId: string | null;
  channelIdentifier: string | null;
  oauthRequestId: string | null;
  createdAt: number;
  connectedAt: number | null;
  updatedAt: number;
  lastHealthAt: number | null;
  lastHealthOk: boolean | null;
}

/** The view of a stored connection. */
export function connectionView(c: Connection): ConnectionView {
  return {
    id: c.id,
    tenant: c.tenant,
    sellerProject: c.sellerProject,
    status: c.status,
    keyId: c.keyId,
    channelIdentifier: c.channelIdentifier,
    oauthRequestId: c.oauthRequestId,
    createdAt: c.createdAt,
    connectedAt: c.connectedAt,
    updatedAt: c.updatedAt,
    lastHealthAt: c.lastHealthAt,
    lastHealthOk: c.lastHealthOk,
  };
}
