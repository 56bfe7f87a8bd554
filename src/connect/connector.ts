// The connector's public face: `createConnector` checks the options and loads the state key, and `Connector`
// hands each call to the phase that owns it (connect-flow, reconciler, operations, orphans; see docs/connect.md).
// The crash-safety machine itself lives in those modules and the kernel they share.

import type { NoonSession } from '../client/index.js';
import type { Attempt, Connection, Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { ConnectFlow } from './connect-flow.js';
import { META, STATE_KEY_CONTEXT } from './invariants.js';
import { AttemptKernel } from './kernel.js';
import { ConnectionOperations } from './operations.js';
import { resolveOptions } from './options.js';
import { Orphans } from './orphans.js';
import { Reconciler } from './reconciler.js';
import type {
  CallbackOutcome,
  ConnectionView,
  ConnectorOptions,
  HealthResult,
  ReconcileReport,
  StartResult,
} from './types.js';

let construct: (kernel: AttemptKernel, stateKey: Buffer) => Connector;

/**
 * Connects Noon sellers exactly once and keeps their keys: the connect flow as a durable state machine, its
 * reconciler, orphan repair, rotation and events. Built only through {@link createConnector}.
 */
export class Connector {
  readonly #k: AttemptKernel;
  readonly #flow: ConnectFlow;
  readonly #orphans: Orphans;
  readonly #reconciler: Reconciler;
  readonly #ops: ConnectionOperations;
  readonly #inFlight = new Set<Promise<unknown>>();

  static {
    construct = (kernel, stateKey) => new Connector(kernel, stateKey);
  }

  private constructor(kernel: AttemptKernel, stateKey: Buffer) {
    this.#k = kernel;
    this.#orphans = new Orphans(kernel);
    this.#flow = new ConnectFlow(kernel, this.#orphans, stateKey);
    this.#reconciler = new Reconciler(kernel, this.#flow, this.#orphans);
    this.#ops = new ConnectionOperations(kernel, this.#orphans);
  }

  /** The Noon environment this connector issues states for. */
  get environment(): string {
    return this.#k.o.environment;
  }

  /** Whether the binding cookie is `__Host-`/`Secure` (the public URL is https). */
  get secureCookies(): boolean {
    return this.#k.o.secureCookies;
  }

  /** How long a connect link lives. */
  get stateTtlMs(): number {
    return this.#k.o.stateTtlMs;
  }

  /**
   * Starts a connect: issues a state bound to the browser (reusing its binding cookie if it sent one), records
   * it, and returns Noon's consent URL and the cookie to set. A bad tenant is a ConnectError INVALID_ARGUMENT,
   * a refused return path RETURN_PATH_REFUSED; `connectionId` reconnects that connection of the tenant.
   */
  start(input: {
    tenant: string;
    returnTo?: string;
    connectionId?: string;
    cookieHeader?: string | null;
  }): Promise<StartResult> {
    return this.#flow.start(input);
  }

  /**
   * Handles Noon's redirect back. Everything that can be judged from the request alone (method, size,
   * parameters, the state's MAC and its binding cookie) is judged before the store is touched.
   */
  callback(request: Request): Promise<CallbackOutcome> {
    const p = this.#flow.callback(request);
    this.#inFlight.add(p);
    return p.finally(() => this.#inFlight.delete(p));
  }

  /** Resolves when the callbacks in progress have finished (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Drives stuck attempts to an end and removes keys left retiring. Run it on start and periodically; every
   * move is a compare-and-set, so two reconcilers (or two instances) at once never repeat a step.
   */
  reconcile(): Promise<ReconcileReport> {
    return this.#reconciler.reconcile();
  }

  /**
   * Removes the active keys of a seller service account that no stored credential holds; returns how many.
   * Postponed (0) while another key for the seller is being stored.
   */
  cleanOrphanKeys(
    channelIdentifier: string,
    sellerProject?: string,
    exceptAttemptId?: string,
  ): Promise<number> {
    return this.#orphans.cleanOrphanKeys(channelIdentifier, sellerProject, exceptAttemptId);
  }

  /** Connections, metadata only. */
  listConnections(q: { tenant?: string; status?: Connection['status'] } = {}): Promise<ConnectionView[]> {
    return this.#ops.listConnections(q);
  }

  /** One connection (of `tenant`, when given), metadata only. */
  getConnection(id: string, tenant?: string): Promise<ConnectionView | undefined> {
    return this.#ops.getConnection(id, tenant);
  }

  /** A logged-in session as the seller; the key is decrypted and imported once and cached (LRU). */
  sellerSession(tenant: string, sellerProject: string): Promise<NoonSession> {
    return this.#ops.sellerSession(tenant, sellerProject);
  }

  /** Seller login + whoami with the connection's key; the result is recorded on the connection. */
  healthCheck(connectionId: string, tenant?: string): Promise<HealthResult> {
    return this.#ops.healthCheck(connectionId, tenant);
  }

  /**
   * Rotates the connection's key, make-before-break: checks a free slot, creates and stores the new key, switches
   * to it, then removes the old one. A crash leaves two valid keys, never none.
   */
  rotate(connectionId: string, tenant?: string): Promise<ConnectionView> {
    return this.#ops.rotate(connectionId, tenant);
  }

  /** Removes the connection's keys upstream, then marks it disconnected. */
  disconnect(connectionId: string, tenant?: string): Promise<ConnectionView> {
    return this.#ops.disconnect(connectionId, tenant);
  }

  /** One attempt's record (sealed values stay sealed). */
  getAttempt(id: string): Promise<Attempt | undefined> {
    return this.#k.store.getAttempt(id);
  }
}

/**
 * The key that signs states lives in the store, sealed by the vault: every instance shares it, and a copy of
 * the database alone cannot forge states. The first instance to start creates it.
 */
async function loadStateKey(store: Store, vault: Vault, random: (n: number) => Buffer): Promise<Buffer> {
  let sealed = await store.getMeta(META.stateKey);
  if (!sealed)
    sealed = await store.setMetaIfAbsent(META.stateKey, await vault.seal(random(32), STATE_KEY_CONTEXT));
  return vault.open(sealed, STATE_KEY_CONTEXT);
}

/**
 * Builds a connector: checks and freezes the options, and loads (or creates, sealed in the store) the key that
 * signs states. Misuse (a missing part, a malformed option) throws a `TypeError` with code
 * `ERR_CONNECT_INVALID_ARGUMENT`; plain http public or webhook URLs in production a ConnectError `CONFIG`.
 *
 * @example
 * ```ts
 * import { createConnector } from 'noon-connect/connect';
 *
 * const connector = await createConnector({
 *   noon: { client, oauth, apiUsers },
 *   store, // createSqliteStore(...) or createPostgresStore(...)
 *   vault, // Vault.open(...)
 *   environment: 'production',
 *   publicUrl: 'https://connect.acme.example',
 * });
 * const { url, setCookie } = await connector.start({ tenant: 'acme', returnTo: '/settings/noon' });
 * // ...redirect the browser to `url` with `setCookie`; on Noon's redirect back:
 * const outcome = await connector.callback(request);
 * setInterval(() => connector.reconcile(), 60_000);
 * ```
 */
export async function createConnector(options: ConnectorOptions): Promise<Connector> {
  const resolved = resolveOptions(options);
  const stateKey = await loadStateKey(resolved.store, resolved.vault, resolved.randomBytes);
  return construct(new AttemptKernel(resolved), stateKey);
}
