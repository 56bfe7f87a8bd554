// The attempt-steps kernel every phase of the connector shares: its resolved options, store, vault and Noon
// clients, and the steps that end an attempt: fail, flag for an operator, finish from a stored key (and retire
// the key it replaces), and say what an attempt's stored status means to a browser that comes back.

import {
  type KeyFile,
  type NoonCredentials,
  NoonError,
  NoonExchangeError,
  NoonSession,
  processCreateCredentialBody,
  processExchangeBody,
} from '../client/index.js';
import type { Attempt, AttemptPatch, AttemptStatus, Credential, NewEvent } from '../store/index.js';
import { VaultError } from '../vault/index.js';
import { type AttemptErrorCode, attemptErrorCode, logCode, requestIdOf } from './errors.js';
import { type ConnectEvent, type EventPayload, type EventType, newEvent } from './events.js';
import { recordContext } from './invariants.js';
import { LruCache } from './lru.js';
import type { ResolvedOptions } from './options.js';
import { importSellerKey, sellerKeyLabel, storeCredentials, storedKeyFile } from './seller-keys.js';
import type { CallbackOutcome, ConnectorLogEntry, FailedCode, Step } from './types.js';

/** Codes after which starting again cannot help: the integrator's setup, or an operator, must act first. */
const NO_RECONNECT: readonly FailedCode[] = ['INVALID_CLIENT', 'CLIENT_NOT_OWNED', 'NEEDS_ATTENTION'];

/**
 * The code of a key-creating call's answer other than 200, as its process step reads it; a success status
 * the contract does not use gets HTTP_STATUS with the status as detail.
 */
export function refusalOf(
  process: (rawBody: string, status: number) => unknown,
  rawBody: string,
  status: number,
): { code: AttemptErrorCode; detail: string | null } {
  try {
    process(rawBody, status);
  } catch (e) {
    return { code: attemptErrorCode(e), detail: null };
  }
  return { code: 'HTTP_STATUS', detail: `HTTP ${status}` };
}

export class AttemptKernel {
  readonly o: ResolvedOptions;
  /** Seller sessions with their imported keys, by credential id. */
  readonly sessions: LruCache<string, NoonSession>;
  /** Attempts this process is driving from their claim on: a repeated callback must not finish one twice. */
  readonly driving = new Set<string>();

  constructor(options: ResolvedOptions) {
    this.o = options;
    this.sessions = new LruCache(options.sellerSessionCacheSize);
  }

  get store() {
    return this.o.store;
  }

  get vault() {
    return this.o.vault;
  }

  get noon() {
    return this.o.noon;
  }

  now(): number {
    return this.o.now();
  }

  log(e: ConnectorLogEntry): void {
    this.o.logger?.(e);
  }

  async hook(step: Step, a: { id: string; tenant: string }): Promise<void> {
    if (this.o.stepHook) await this.o.stepHook(step, { id: a.id, tenant: a.tenant });
  }

  event(type: EventType, data: EventPayload): NewEvent {
    return newEvent(this.o.uuid(), type, data, this.now(), this.o.webhookEndpoints);
  }

  /** In-process hooks run after, and only if, the commit that recorded these very events succeeded. */
  emitStored(stored: readonly NewEvent[], committed: boolean): void {
    const onEvent = this.o.onEvent;
    if (!committed || !onEvent) return;
    for (const n of stored) {
      const e: ConnectEvent = {
        id: n.id,
        type: n.type as EventType,
        created_at: new Date(n.createdAt).toISOString(),
        data: JSON.parse(n.payload) as EventPayload,
      };
      try {
        onEvent(e);
      } catch {
        // A failing hook must not break the flow; webhooks carry the durable copy.
      }
    }
  }

  /** `from` → FAILED with its event, in one commit; false when the attempt had already moved. */
  async fail(
    a: Attempt,
    from: AttemptStatus,
    code: AttemptErrorCode,
    patch: AttemptPatch = {},
  ): Promise<boolean> {
    const event = this.event('failed', {
      tenant: a.tenant,
      seller_project: a.sellerProject,
      attempt_id: a.id,
      error_code: code,
      oauth_request_id: patch.oauthRequestId ?? a.oauthRequestId,
    });
    const ok = await this.store.transition(
      a.id,
      from,
      'FAILED',
      { errorCode: code, accessTokenSealed: null, ...patch },
      this.now(),
      { events: [event] },
    );
    this.emitStored([event], ok);
    return ok;
  }

  failedOutcome(a: Attempt, code: FailedCode): CallbackOutcome {
    return {
      kind: 'failed',
      attemptId: a.id,
      code,
      reconnect: !NO_RECONNECT.includes(code),
      oauthRequestId: a.oauthRequestId,
    };
  }

  /** A state used again: a refresh or back button after the flow (S6) calls nothing upstream. */
  async replayed(a: Attempt): Promise<CallbackOutcome> {
    switch (a.status) {
      case 'CONNECTED':
      case 'REPAIRED':
        return alreadyConnected(a, a.sellerProject);
      case 'KEY_STORED':
        // P4: the key is stored but the first response never made it; finish from the stored body. Unless this
        // process is finishing it right now (the same callback again while the first one works, S5): one finish.
        if (this.driving.has(a.id)) return { kind: 'pending', attemptId: a.id, status: a.status };
        return this.finishKeyStored(a);
      case 'FAILED': {
        // Stored codes are the connector's own (AttemptErrorCode); an older version's may be read as well.
        const code = (a.errorCode ?? 'FAILED') as FailedCode;
        if (code === 'ALREADY_CONNECTED') return alreadyConnected(a, a.sellerProject);
        if (code === 'ACCESS_DENIED') return { kind: 'denied', attemptId: a.id, returnTo: a.returnTo };
        if (code === 'STATE_EXPIRED') return { kind: 'expired', attemptId: a.id };
        return this.failedOutcome(a, code);
      }
      case 'NEEDS_RECONNECT':
      case 'NEEDS_ATTENTION':
        // Ended: a refresh must not say "finishing, check back" about an attempt nothing will finish.
        return this.failedOutcome(a, a.status);
      default:
        return { kind: 'pending', attemptId: a.id, status: a.status };
    }
  }

  /** What the attempt, read again, says: after a compare-and-set lost to another caller. */
  async replayedById(id: string): Promise<CallbackOutcome> {
    return this.replayed((await this.store.getAttempt(id))!);
  }

  /**
   * KEY_STORED → validate → CONNECTED (or NEEDS_ATTENTION, or FAILED for a workflow failure). A connect attempt's
   * stored answer is token/exchange's; a rotation's or a repair's is credentials/create's.
   */
  async finishKeyStored(attempt: Attempt, requestId?: string, rawAnswer?: string): Promise<CallbackOutcome> {
    const project = attempt.sellerProject!;
    let keyFile: KeyFile;
    // The key imported once, by the check below; with the login check on, that login's JWT is the key's
    // sign-and-verify probe (a key that fails it is a validation failure, U9, as a failed probe was).
    let inProcess: NoonCredentials;
    const keyCheck = this.o.verifyLogin && !this.o.signingKeys ? 'first-sign' : 'now';
    let oauthRequestId: string | null = attempt.oauthRequestId;
    try {
      // Raw answers (exchange or credentials/create) share one purpose; the attempt's kind says which it is.
      // The answer just committed (sealed) by this process is at hand; one read back from the store is opened.
      let raw: string;
      if (rawAnswer !== undefined) raw = rawAnswer;
      else {
        const plain = await this.vault.open(
          attempt.rawExchangeSealed!,
          recordContext(attempt.tenant, project, attempt.id, 'exchange-body'),
        );
        raw = plain.toString('utf8');
        // The bytes can be wiped; the string cannot (JavaScript strings are immutable), it is only let go.
        plain.fill(0);
      }
      if (attempt.kind !== 'connect') {
        const r = processCreateCredentialBody(raw, 200, { requestId, keyCheck });
        keyFile = r.keyFile;
        inProcess = r.credentials;
        if (keyFile.project_code !== project)
          throw new NoonError('PROJECT_MISMATCH', 'the new key names another project');
      } else {
        const r = processExchangeBody(raw, 200, { expectedProjectCode: project, requestId, keyCheck });
        keyFile = r.keyFile;
        inProcess = r.credentials;
        oauthRequestId = r.oauthRequestId;
      }
    } catch (e) {
      if (e instanceof NoonExchangeError) {
        // U9b / NC29: HTTP 200 with status.code ≠ 0: nothing usable was created; keep oauth_request_id.
        const rid = e.oauthRequestId ?? null;
        await this.fail(attempt, 'KEY_STORED', 'EXCHANGE_FAILED', {
          oauthRequestId: rid,
          rawExchangeSealed: null,
          errorDetail: `status.code ${e.statusCode}`,
        });
        return {
          kind: 'failed',
          attemptId: attempt.id,
          code: 'EXCHANGE_FAILED',
          reconnect: true,
          oauthRequestId: rid,
        };
      }
      // U9: the answer is stored (encrypted) but fails validation: an operator decides.
      return this.#keyFailedValidation(attempt, e, oauthRequestId);
    }

    // Opt-in: the key goes into the signing-key store now, outside the validation above. A store that fails is
    // not the key's fault: the attempt stays KEY_STORED with its sealed answer, and the reconciler tries again.
    const keys = this.o.signingKeys;
    if (keys) {
      try {
        await importSellerKey(keys, keyFile);
      } catch (e) {
        return this.#keyStoreFailed(attempt, e);
      }
    }

    if (this.o.verifyLogin) {
      try {
        const credentials = keys ? storeCredentials(keys, keyFile) : inProcess;
        const s = new NoonSession(this.noon.client, credentials, { projectCode: project });
        const who = await s.whoami();
        if (who.projectCode !== project || who.keyId !== keyFile.key_id)
          throw new NoonError('RESPONSE_INVALID', 'whoami names another key or project');
      } catch (e) {
        // The key store failing to sign is not the key's fault either.
        if (keys && e instanceof VaultError) return this.#keyStoreFailed(attempt, e);
        if (e instanceof NoonError && e.code === 'RESPONSE_INVALID' && /private_key$/.test(e.field ?? '')) {
          // The deferred probe: the key did not sign and verify (U9), as the check above would have said.
          await this.#dropImported(attempt, keyFile.key_id);
          return this.#keyFailedValidation(attempt, e, oauthRequestId);
        }
        const cause = logCode(e);
        this.log({
          level: 'error',
          msg: 'seller login with the new key failed',
          attemptId: attempt.id,
          code: cause,
        });
        await this.#dropImported(attempt, keyFile.key_id);
        return this.#needsAttention(attempt, 'LOGIN_FAILED', cause, oauthRequestId);
      }
    }

    const now = this.now();
    const credentialId = this.o.uuid();
    // With a signing-key store the stored key file has no private key: the raw answer, deleted by the commit
    // below, was the last copy outside the store.
    const sealed = await this.vault.seal(
      storedKeyFile(keyFile, keys !== undefined),
      recordContext(attempt.tenant, project, credentialId, 'seller-key-file'),
    );
    const existing = attempt.connectionId
      ? await this.store.getConnection(attempt.connectionId)
      : await this.store.findConnection(attempt.tenant, project);
    const type: EventType =
      attempt.kind === 'rotate'
        ? 'rotated'
        : attempt.kind === 'repair'
          ? 'repaired'
          : existing
            ? 'reconnected'
            : 'connected';
    const connectionId = existing?.id ?? this.o.uuid();
    const connectedEvent = this.event(type, {
      tenant: attempt.tenant,
      seller_project: project,
      connection_id: connectionId,
      attempt_id: attempt.id,
      key_id: keyFile.key_id,
      channel_identifier: keyFile.channel_identifier,
      oauth_request_id: oauthRequestId,
    });
    const result = await this.store.connect({
      attemptId: attempt.id,
      connectionId,
      credential: {
        id: credentialId,
        connectionId,
        tenant: attempt.tenant,
        sellerProject: project,
        keyId: keyFile.key_id,
        channelIdentifier: keyFile.channel_identifier,
        sealed,
        createdAt: now,
      },
      userCode: null,
      oauthRequestId,
      now,
      events: [connectedEvent],
    });
    this.emitStored([connectedEvent], result !== undefined);
    if (!result) return this.replayedById(attempt.id);
    // The engine may still hold the deleted raw answer (SQLite: its WAL and freed pages): have it let go.
    if (keys) await this.#scrub(attempt);
    if (attempt.kind === 'repair') {
      await this.store.transition(attempt.id, 'CONNECTED', 'REPAIRED', {}, this.now());
    }
    this.log({
      level: 'info',
      msg: `seller ${type}`,
      attemptId: attempt.id,
      tenant: attempt.tenant,
      sellerProject: project,
      connectionId: result.connection.id,
    });
    await this.hook(attempt.kind === 'rotate' ? 'ROTATION_KEY_STORED' : 'CONNECTED', attempt);
    // Make before break: the new key is stored and in use; only now is the old one removed upstream.
    if (result.previous) await this.retire(result.previous).catch(() => {});
    return {
      kind: 'connected',
      attemptId: attempt.id,
      tenant: attempt.tenant,
      sellerProject: project,
      connectionId: result.connection.id,
      returnTo: attempt.returnTo,
      reconnected: type !== 'connected',
    };
  }

  /** The signing-key store refused or is down: the attempt stays KEY_STORED, nothing lost, for the reconciler. */
  #keyStoreFailed(attempt: Attempt, e: unknown): CallbackOutcome {
    this.log({
      level: 'error',
      msg: 'seller key not in the signing-key store yet; the attempt stays KEY_STORED and is retried',
      attemptId: attempt.id,
      status: 'KEY_STORED',
      code: logCode(e),
    });
    return { kind: 'pending', attemptId: attempt.id, status: 'KEY_STORED' };
  }

  /** Best effort: a scrub that fails leaves ciphertext under the master key, which is logged, not fatal. */
  async #scrub(attempt: Attempt): Promise<void> {
    try {
      await this.store.scrub?.();
    } catch (e) {
      this.log({
        level: 'warn',
        msg: 'could not scrub the store after a key moved into the signing-key store',
        attemptId: attempt.id,
        code: logCode(e),
      });
    }
  }

  /** U9: a stored key that failed validation is kept (encrypted) on its attempt for an operator to decide. */
  async #needsAttention(
    attempt: Attempt,
    code: AttemptErrorCode,
    detail: string | null,
    oauthRequestId: string | null,
  ): Promise<CallbackOutcome> {
    const event = this.event('needs_attention', {
      tenant: attempt.tenant,
      seller_project: attempt.sellerProject,
      attempt_id: attempt.id,
      error_code: code,
    });
    const moved = await this.store.transition(
      attempt.id,
      'KEY_STORED',
      'NEEDS_ATTENTION',
      { errorCode: code, ...(detail !== null ? { errorDetail: detail } : {}) },
      this.now(),
      { events: [event] },
    );
    this.emitStored([event], moved);
    return {
      kind: 'failed',
      attemptId: attempt.id,
      code: 'NEEDS_ATTENTION',
      reconnect: false,
      oauthRequestId,
    };
  }

  /** U9: a stored answer whose key fails validation goes to an operator (NEEDS_ATTENTION), logged with its code. */
  #keyFailedValidation(
    attempt: Attempt,
    e: unknown,
    oauthRequestId: string | null,
  ): Promise<CallbackOutcome> {
    this.log({
      level: 'error',
      msg: 'stored key failed validation',
      attemptId: attempt.id,
      code: logCode(e),
      ...requestIdOf(e),
    });
    return this.#needsAttention(attempt, attemptErrorCode(e), null, oauthRequestId);
  }

  /**
   * A key that failed its check goes to an operator with its sealed raw answer, the one copy kept: the object
   * imported into the signing-key store moments before is removed, so no resolution has to remember it. A store
   * that cannot remove it now is logged; the object holds nothing the sealed answer does not.
   */
  async #dropImported(attempt: Attempt, keyId: string): Promise<void> {
    const keys = this.o.signingKeys;
    if (!keys) return;
    try {
      await keys.destroy(sellerKeyLabel(keyId));
    } catch (e) {
      this.log({
        level: 'warn',
        msg: 'could not remove the imported key of an attempt that needs attention',
        attemptId: attempt.id,
        code: logCode(e),
      });
    }
  }

  /**
   * Removes a retiring credential's key upstream, then marks it removed; true when this call did the marking
   * (a concurrent reconciler may have done so first).
   */
  async retire(c: Credential): Promise<boolean> {
    try {
      await this.noon.apiUsers.removeCredential({ channelIdentifier: c.channelIdentifier, keyId: c.keyId });
    } catch (e) {
      // Already gone upstream counts as removed; anything else waits for the reconciler.
      if (!(e instanceof NoonError && (e.code === 'NOT_FOUND' || e.reason === 'KEY_NOT_FOUND'))) throw e;
    }
    // The key in the signing-key store goes once it is gone upstream (idempotent); a store that is down throws
    // here, so the credential stays retiring and the reconciler tries again.
    if (this.o.signingKeys) await this.o.signingKeys.destroy(sellerKeyLabel(c.keyId));
    this.sessions.delete(c.id);
    return this.store.markCredentialRemoved(c.id, this.now());
  }
}

function alreadyConnected(a: Attempt, sellerProject: string | null): CallbackOutcome {
  return {
    kind: 'already_connected',
    attemptId: a.id,
    tenant: a.tenant,
    sellerProject,
    returnTo: a.returnTo,
  };
}
