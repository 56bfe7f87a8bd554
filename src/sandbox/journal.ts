// The request journal: one entry per request (method, path, endpoint, status, duration, request id, and what it
// was about: seller project, key id, whether a session and a User-Agent came), bounded, with no secret values:
// never a query string, body, header or cookie.

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
  /** The seller project the request's code, access token or session belongs to. */
  sellerProject?: string;
  /** The key a login used or a session was made with. */
  keyId?: string;
  /** Gateway requests: whether the integrator session cookie (`_npsid`) was presented. */
  session?: boolean;
  /** Gateway requests: whether a non-empty User-Agent was sent. */
  userAgent?: boolean;
  reason?: string;
  fault?: string;
}

export interface JournalQuery {
  endpoint?: string;
  method?: string;
  status?: number;
  sinceSeq?: number;
  sellerProject?: string;
}

export class Journal {
  readonly #entries: JournalEntry[] = [];
  readonly #capacity: number;
  #seq = 0;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  record(e: Omit<JournalEntry, 'seq'>): void {
    this.append({ seq: 0, ...e });
  }

  /** Keeps `e` itself (no copy), numbering it. */
  append(e: JournalEntry): void {
    e.seq = ++this.#seq;
    this.#entries.push(e);
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
        (q.sinceSeq === undefined || e.seq > q.sinceSeq) &&
        (q.sellerProject === undefined || e.sellerProject === q.sellerProject),
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
