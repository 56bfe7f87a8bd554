// What an API operation adds to its audit record (the tenant it acted for, a detail such as a token prefix),
// noted on the request and read by the pipeline when it writes the record.

export interface AuditNote {
  tenant?: string | null;
  detail?: string;
}

const notes = new WeakMap<Request, AuditNote>();

export function noteAudit(request: Request, note: AuditNote): void {
  notes.set(request, { ...notes.get(request), ...note });
}

export function auditNoteOf(request: Request): AuditNote | undefined {
  return notes.get(request);
}
