// Operations on connections once connected: list and read them, a seller session with the stored key, health
// checks, key rotation (make-before-break) and disconnect.

import {
  type NoonApiUsers,
  type NoonCredentials,
  NoonSession,
  processCreateCredentialBody,
} from '../client/index.js';
import type { Attempt, Connection, Credential } from '../store/index.js';
import { attemptErrorCode, ConnectError, logCode } from './errors.js';
import { recordContext } from './invariants.js';
import { type AttemptKernel, refusalOf } from './kernel.js';
import type { Orphans } from './orphans.js';
import { credentialsOf, keyOnlyWhileSigning } from './seller-keys.js';
import { type ConnectionView, connectionView, type HealthResult } from './types.js';

/** Keys one seller service account may hold at once (NC4). */
const MAX_KEYS = 5;

export class ConnectionOperations {
  readonly #k: AttemptKernel;
  readonly #orphans: Orphans;

  constructor(kernel: AttemptKernel, orphans: Orphans) {
    this.#k = kernel;
    this.#orphans = orphans;
  }

  async listConnections(
    q: { tenant?: string; status?: Connection['status'] } = {},
  ): Promise<ConnectionView[]> {
    return (await this.#k.store.listConnections(q)).map(connectionView);
  }

  async getConnection(id: string, tenant?: string): Promise<ConnectionView | undefined> {
    const c = await this.#k.store.getConnection(id);
    if (!c || (tenant !== undefined && c.tenant !== tenant)) return undefined;
    return connectionView(c);
  }

  async #view(id: string): Promise<ConnectionView> {
    return connectionView((await this.#k.store.getConnection(id))!);
  }

  async #activeConnection(id: string, tenant?: string): Promise<{ conn: Connection; cred: Credential }> {
    const store = this.#k.store;
    const conn = await store.getConnection(id);
    if (!conn || (tenant !== undefined && conn.tenant !== tenant))
      throw new ConnectError('CONNECTION_NOT_FOUND', 'no such connection');
    if (conn.status !== 'active' || !conn.credentialId)
      throw new ConnectError('CONNECTION_INACTIVE', 'the connection is not active');
    const cred = await store.getCredential(conn.credentialId);
    if (cred?.state !== 'active')
      throw new ConnectError('CONNECTION_INACTIVE', 'the connection has no active key');
    return { conn, cred };
  }

  /**
   * A logged-in session as the seller; the key is decrypted and imported once and cached (LRU). A key held in the
   * signing-key store signs every login there; only its metadata is decrypted.
   */
  async sellerSession(tenant: string, sellerProject: string): Promise<NoonSession> {
    const conn = await this.#k.store.findConnection(tenant, sellerProject);
    if (!conn) throw new ConnectError('CONNECTION_NOT_FOUND', 'no connection for this seller project');
    // The hot path, one read: an active connection's credential_id is its active key (connect, rotate and
    // disconnect change both in one commit), so a session cached for that key is the one to use.
    if (conn.status === 'active' && conn.credentialId) {
      const cached = this.#k.sessions.get(conn.credentialId);
      if (cached) return cached;
    }
    const { cred } = await this.#activeConnection(conn.id, tenant);
    return this.#sessionFor(cred);
  }

  async #sessionFor(cred: Credential): Promise<NoonSession> {
    const k = this.#k;
    const cached = k.sessions.get(cred.id);
    if (cached) return cached;
    // The key is imported now (a bad key file fails here, not at some later login) and used for the first
    // login; a cached session then holds no private key: a later login reads the key file again.
    // The reload holds the credential's id only: the row itself carries the sealed key file (~3 KB).
    const id = cred.id;
    const credentials = keyOnlyWhileSigning(await this.#credentialsOf(cred), async () => {
      const again = await k.store.getCredential(id);
      if (!again) throw new ConnectError('CONNECTION_NOT_FOUND', "this session's key is no longer stored");
      return this.#credentialsOf(again);
    });
    const session = new NoonSession(k.noon.client, credentials, { projectCode: cred.sellerProject });
    k.sessions.set(cred.id, session);
    return session;
  }

  async #credentialsOf(cred: Credential): Promise<NoonCredentials> {
    const plain = await this.#k.vault.open(
      cred.sealed,
      recordContext(cred.tenant, cred.sellerProject, cred.id, 'seller-key-file'),
    );
    const text = plain.toString('utf8');
    plain.fill(0);
    return credentialsOf(text, this.#k.o.signingKeys);
  }

  /** Seller login + whoami with the connection's key; the result is recorded on the connection. */
  async healthCheck(connectionId: string, tenant?: string): Promise<HealthResult> {
    const { conn, cred } = await this.#activeConnection(connectionId, tenant);
    const checkedAt = this.#k.now();
    let result: HealthResult;
    try {
      // A fresh login every time: a cached session can outlive its key (a key removed upstream need not end
      // live sessions), so whoami alone would report a dead key as healthy.
      const session = await this.#sessionFor(cred);
      await session.login();
      const who = await session.whoami();
      const ok = who.projectCode === conn.sellerProject;
      result = {
        ok,
        checkedAt,
        detail: ok ? 'login and whoami succeeded' : 'whoami names another project',
        whoami: who,
      };
    } catch (e) {
      result = { ok: false, checkedAt, detail: `login or whoami failed: ${logCode(e)}` };
    }
    await this.#k.store.updateConnection(
      conn.id,
      { lastHealthAt: checkedAt, lastHealthOk: result.ok, lastHealthDetail: result.detail },
      checkedAt,
    );
    return result;
  }

  /**
   * Rotates the connection's key, make-before-break: checks a free slot, creates and stores the new key, switches
   * to it, then removes the old one. A crash leaves two valid keys, never none.
   */
  async rotate(connectionId: string, tenant?: string): Promise<ConnectionView> {
    const k = this.#k;
    const { conn, cred } = await this.#activeConnection(connectionId, tenant);
    const account = { channelIdentifier: cred.channelIdentifier };
    const activeKeys = async () =>
      (await k.noon.apiUsers.listCredentials(account)).filter((x) => x.active).length;
    if ((await activeKeys()) >= MAX_KEYS) {
      await this.#orphans.cleanOrphanKeys(cred.channelIdentifier, cred.sellerProject);
      if ((await activeKeys()) >= MAX_KEYS)
        throw new ConnectError('KEY_LIMIT', "the seller's service account has no free key slot (5 in use)");
    }
    const now = k.now();
    const attemptId = k.o.uuid();
    // A rotation is recorded as an attempt with credentials/create in flight from the start: a crash finds it
    // in EXCHANGE_SENT and takes the orphan path. No link starts it, so it has no state.
    await k.store.createAttempt({
      id: attemptId,
      kind: 'rotate',
      status: 'EXCHANGE_SENT',
      tenant: conn.tenant,
      sellerProject: conn.sellerProject,
      connectionId: conn.id,
      stateHash: null,
      environment: k.o.environment,
      returnTo: '/',
      createdAt: now,
      expiresAt: now,
    });
    const attempt = (await k.store.getAttempt(attemptId))!;
    let r: Awaited<ReturnType<NoonApiUsers['createCredentialRequest']>>;
    try {
      r = await k.noon.apiUsers.createCredentialRequest(account);
    } catch (e) {
      const c = attemptErrorCode(e);
      if (c === 'OUTCOME_UNKNOWN' || c === 'TIMEOUT') await this.#orphans.orphan(attempt, c);
      else await k.fail(attempt, 'EXCHANGE_SENT', c);
      throw new ConnectError('UNAVAILABLE', `rotation failed: ${c}`, { cause: e });
    }
    if (r.response.status !== 200) {
      const { code, detail } = refusalOf(processCreateCredentialBody, r.rawBody, r.response.status);
      await k.fail(attempt, 'EXCHANGE_SENT', code, detail !== null ? { errorDetail: detail } : {});
      throw new ConnectError(code === 'KEY_LIMIT' ? 'KEY_LIMIT' : 'UNAVAILABLE', `rotation failed: ${code}`);
    }
    return this.#finishRotation(attempt, r.rawBody, conn.id);
  }

  /** The new key's answer, sealed and committed (KEY_STORED), then finished like any stored key. */
  async #finishRotation(attempt: Attempt, rawBody: string, connectionId: string): Promise<ConnectionView> {
    const k = this.#k;
    const sealed = await k.vault.seal(
      rawBody,
      recordContext(attempt.tenant, attempt.sellerProject!, attempt.id, 'exchange-body'),
    );
    if (!(await k.store.storeExchangeBody(attempt.id, sealed, k.now())))
      throw new ConnectError('UNAVAILABLE', 'rotation interrupted');
    const out = await k.finishKeyStored({ ...attempt, status: 'KEY_STORED', rawExchangeSealed: sealed });
    if (out.kind === 'pending')
      throw new ConnectError(
        'UNAVAILABLE',
        'the new key is stored but not in use yet (the signing-key store did not take it); the reconciler finishes the rotation',
      );
    if (out.kind !== 'connected')
      throw new ConnectError('UNAVAILABLE', 'the new key failed validation; see the attempt');
    return this.#view(connectionId);
  }

  /** Removes the connection's keys upstream, then marks it disconnected. */
  async disconnect(connectionId: string, tenant?: string): Promise<ConnectionView> {
    const k = this.#k;
    const conn = await k.store.getConnection(connectionId);
    if (!conn || (tenant !== undefined && conn.tenant !== tenant))
      throw new ConnectError('CONNECTION_NOT_FOUND', 'no such connection');
    // First, atomically: disconnected, and every active key marked for removal. A reconnect that commits after
    // this starts a new active key, which this call does not touch; a crash before the removals below leaves
    // retiring keys that the reconciler removes.
    const event = k.event('disconnected', {
      tenant: conn.tenant,
      seller_project: conn.sellerProject,
      connection_id: conn.id,
      key_id: conn.keyId,
    });
    const toRemove = await k.store.disconnectConnection(connectionId, k.now(), { events: [event] });
    k.emitStored([event], toRemove !== undefined);
    // Already disconnected: nothing upstream, and no second event.
    if (toRemove !== undefined) for (const c of toRemove) await k.retire(c);
    return this.#view(connectionId);
  }
}
