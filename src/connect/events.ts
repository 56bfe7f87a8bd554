// Connector events: in-process hooks and HMAC-SHA256-signed webhooks delivered from the outbox table, so an
// event committed with its state change is delivered even across a crash. Payloads are metadata only.

import { createHmac } from 'node:crypto';
import type { NewEvent } from '../store/index.js';

/** Every event type, in the order a connection's life passes them. */
export const EVENT_TYPES = [
  'connected',
  'reconnected',
  'failed',
  'needs_attention',
  'orphan_suspected',
  'repaired',
  'rotated',
  'disconnected',
] as const;
/** One of {@link EVENT_TYPES}. */
export type EventType = (typeof EVENT_TYPES)[number];

/** What an event says: ids, statuses and codes only, never a secret. */
export interface EventPayload {
  tenant: string;
  seller_project?: string | null;
  connection_id?: string | null;
  attempt_id?: string | null;
  key_id?: string | null;
  channel_identifier?: string | null;
  oauth_request_id?: string | null;
  error_code?: string | null;
}

/** An event as `onEvent` hooks and webhook receivers get it. */
export interface ConnectEvent {
  id: string;
  type: EventType;
  created_at: string;
  data: EventPayload;
}

/** An event to commit with the state change it describes, with one delivery row per webhook endpoint. */
export function newEvent(
  id: string,
  type: EventType,
  data: EventPayload,
  now: number,
  endpoints: readonly string[],
): NewEvent {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (v !== undefined && v !== null) clean[k] = v;
  return {
    id,
    type,
    tenant: data.tenant,
    connectionId: data.connection_id ?? null,
    attemptId: data.attempt_id ?? null,
    payload: JSON.stringify(clean),
    createdAt: now,
    endpoints,
  };
}

/** The JSON body a webhook receiver gets. */
export function eventBody(e: { id: string; type: string; createdAt: number; payload: string }): string {
  return JSON.stringify({
    id: e.id,
    type: e.type,
    created_at: new Date(e.createdAt).toISOString(),
    data: JSON.parse(e.payload),
  });
}

/** The header a webhook's signature travels in. */
export const SIGNATURE_HEADER = 'x-noon-connect-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed with the body so a receiver
 * can refuse replays older than its tolerance.
 */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}
