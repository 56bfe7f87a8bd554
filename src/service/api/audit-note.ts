// What an API operation adds to its audit record (the tenant it acted for, a detail such as a token prefix),
// noted on the request and read by the pipeline when it writes the record.

import { requestSlot } from '../request-slot.js';

export interface AuditNote {
  tenant?: string | null;
  detail?: string;
  /**
   * The tenant of the connection the route names, as the operation read it (null: there is no such connection),
   * so the record needs no second read of the same row.
   */
  connectionTenant?: string | null;
}

const notes = requestSlot<AuditNote>('audit-note');

export function noteAudit(request: Request, note: AuditNote): void {
  notes.set(request, { ...notes.get(request), ...note });
}

export function auditNoteOf(request: Request): AuditNote | undefined {
  return notes.get(request);
}
