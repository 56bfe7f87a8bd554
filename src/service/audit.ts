// The audit log: who (a token's prefix, the configured API token, an admin session's handle, the scheduler),
// did what, to which connection of which tenant, with what outcome, when. Metadata only, never a secret. Writing
// a record never fails the action it describes: a failure is logged instead.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditEntry, Store } from '../store/index.js';

export interface AuditRecord {
  actor: string;
  action: string;
  tenant?: string | null | undefined;
  connectionId?: string | null | undefined;
  outcome: string;
  detail?: string | null | undefined;
}

export type Audit = (r: AuditRecord) => Promise<void>;

export function auditLog(store: Store, logger: Logger, now: () => number): Audit {
  return async (r) => {
    const entry: AuditEntry = {
      id: randomUUID(),
      at: now(),
      actor: r.actor.slice(0, 80),
      action: r.action.slice(0, 80),
      tenant: r.tenant ?? null,
      connectionId: r.connectionId ?? null,
      outcome: r.outcome.slice(0, 80),
      detail: r.detail ? r.detail.slice(0, 300) : null,
    };
    try {
      await store.appendAudit(entry);
    } catch (e) {
      logger.warn(
        { code: (e as { code?: string }).code ?? (e as Error).name, action: r.action },
        'audit write failed',
      );
    }
  };
}

/** An audit record as the API and the dashboard show it. */
export function auditJson(e: AuditEntry) {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    actor: e.actor,
    action: e.action,
    tenant: e.tenant,
    connection_id: e.connectionId,
    outcome: e.outcome,
    detail: e.detail,
  };
}
