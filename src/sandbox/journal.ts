// The request journal: one entry per request (method, path, endpoint, status, duration, request id), bounded,
// with no secret values: never a query string, body, header or cookie.

export interface JournalEntry {
  seq: number;
  at: number;
  method: string;
  path: string;
  endpoint: string;
  status: number;
  durationMs: number;
  requestId: string;
  project?: string;
  reason?: string;
  fault?: string;
}

export interface JournalQuery {
  endpoint?: string;
  method?: string;
  status?: number;
  sinceSeq?: number;
}

export class Journal {
  readonly #entries: JournalEntry[] = [];
  readonly #capacity: number;
  #seq = 0;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  record(e: Omit<JournalEntry, 'seq'>): void {
    this.#entries.push({ seq: ++this.#seq, ...e });
    // Trimmed in batches: splicing the front of a full journal on every request would cost O(capacity) each.
    if (this.#entries.length > this.#capacity + Math.ceil(this.#capacity / 10)) {
      this.#entries.splice(0, this.#entries.length - this.#capacity);
    }
  }

  entries(q: JournalQuery = {}): JournalEntry[] {
    return this.#entries.filter(
      (e) =>
        (q.endpoint === undefined || e.endpoint === q.endpoint) &&
        (q.method === undefined || e.method === q.method) &&
        (q.status === undefined || e.status === q.status) &&
        (q.sinceSeq === undefined || e.seq > q.sinceSeq),
    );
  }

  count(q: JournalQuery = {}): number {
    return this.entries(q).length;
  }

  get lastSeq(): number {
    return this.#seq;
  }

  clear(): void {
    this.#entries.length = 0;
  }
}
