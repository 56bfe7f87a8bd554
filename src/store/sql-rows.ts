// Rows of the SQL store as records, and the small pieces of SQL its queries share: the patchable attempt
// columns, `?` lists, and WHERE clauses built from the filters a caller set.

import type {
  Attempt,
  AttemptKind,
  AttemptPatch,
  AttemptResolution,
  AttemptStatus,
  Connection,
  ConnectionStatus,
  Credential,
  CredentialState,
  Delivery,
  EventRecord,
} from './types.js';

export type Row = Record<string, unknown>;

/** Postgres returns BIGINT as text unless parsed; SQLite as a number. */
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function attemptFrom(r: Row): Attempt {
  return {
    id: String(r.id),
    kind: String(r.kind) as AttemptKind,
    tenant: String(r.tenant),
    stateHash: strOrNull(r.state_hash),
    environment: String(r.environment),
    returnTo: String(r.return_to),
    status: String(r.status) as AttemptStatus,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    updatedAt: num(r.updated_at),
    consumedAt: numOrNull(r.consumed_at),
    connectionId: strOrNull(r.connection_id),
    sellerProject: strOrNull(r.seller_project),
    accessTokenSealed: strOrNull(r.access_token_sealed),
    tokenExpiresAt: numOrNull(r.token_expires_at),
    rawExchangeSealed: strOrNull(r.raw_exchange_sealed),
    oauthRequestId: strOrNull(r.oauth_request_id),
    keyId: strOrNull(r.key_id),
    channelIdentifier: strOrNull(r.channel_identifier),
    exchangeSends: num(r.exchange_sends),
    errorCode: strOrNull(r.error_code),
    errorDetail: strOrNull(r.error_detail),
    resolvedAt: numOrNull(r.resolved_at),
    resolution: strOrNull(r.resolution) as AttemptResolution | null,
  };
}

export function connectionFrom(r: Row): Connection {
  return {
    id: String(r.id),
    tenant: String(r.tenant),
    sellerProject: String(r.seller_project),
    status: String(r.status) as ConnectionStatus,
    credentialId: strOrNull(r.credential_id),
    keyId: strOrNull(r.key_id),
    channelIdentifier: strOrNull(r.channel_identifier),
    userCode: strOrNull(r.user_code),
    oauthRequestId: strOrNull(r.oauth_request_id),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    connectedAt: numOrNull(r.connected_at),
    lastHealthAt: numOrNull(r.last_health_at),
    lastHealthOk:
      r.last_health_ok === null || r.last_health_ok === undefined ? null : num(r.last_health_ok) === 1,
    lastHealthDetail: strOrNull(r.last_health_detail),
  };
}

export function credentialFrom(r: Row): Credential {
  return {
    id: String(r.id),
    connectionId: String(r.connection_id),
    tenant: String(r.tenant),
    sellerProject: String(r.seller_project),
    keyId: String(r.key_id),
    channelIdentifier: String(r.channel_identifier),
    sealed: String(r.sealed),
    state: String(r.state) as CredentialState,
    createdAt: num(r.created_at),
    removedAt: numOrNull(r.removed_at),
  };
}

export function eventFrom(r: Row): EventRecord {
  return {
    id: String(r.id),
    type: String(r.type),
    tenant: String(r.tenant),
    connectionId: strOrNull(r.connection_id),
    attemptId: strOrNull(r.attempt_id),
    payload: String(r.payload),
    createdAt: num(r.created_at),
  };
}

export function deliveryFrom(r: Row): Delivery {
  return {
    eventId: String(r.event_id),
    endpoint: String(r.endpoint),
    attempts: num(r.attempts),
    nextAt: num(r.next_at),
    deliveredAt: numOrNull(r.delivered_at),
    lastStatus: numOrNull(r.last_status),
    lastError: strOrNull(r.last_error),
    leaseUntil: numOrNull(r.lease_until),
  };
}

/** The column of each attempt field a transition may change. */
export const PATCH_COLUMNS: Readonly<Record<keyof AttemptPatch, string>> = Object.freeze({
  kind: 'kind',
  sellerProject: 'seller_project',
  accessTokenSealed: 'access_token_sealed',
  tokenExpiresAt: 'token_expires_at',
  rawExchangeSealed: 'raw_exchange_sealed',
  oauthRequestId: 'oauth_request_id',
  keyId: 'key_id',
  channelIdentifier: 'channel_identifier',
  exchangeSends: 'exchange_sends',
  errorCode: 'error_code',
  errorDetail: 'error_detail',
  connectionId: 'connection_id',
});

export function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** A WHERE clause of the filters a caller set, with its parameters in the same order. */
export class Where {
  readonly #parts: string[] = [];
  readonly params: unknown[] = [];

  /** `column = ?`, when the value is given. */
  eq(column: string, value: unknown): this {
    return value === undefined ? this : this.add(`${column} = ?`, value);
  }

  /** `column IN (…)`, when the list is given and not empty. */
  in(column: string, values: readonly unknown[] | undefined): this {
    return values?.length ? this.add(`${column} IN (${placeholders(values.length)})`, ...values) : this;
  }

  /** Any condition, with its parameters. */
  add(condition: string, ...params: unknown[]): this {
    this.#parts.push(condition);
    this.params.push(...params);
    return this;
  }

  toString(): string {
    return this.#parts.length ? `WHERE ${this.#parts.join(' AND ')}` : '';
  }
}
