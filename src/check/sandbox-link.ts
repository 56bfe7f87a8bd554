// The checker's line to the sandbox: its admin HTTP API only, so a sandbox started in this process and one
// started elsewhere (`--sandbox <url>`) are driven the same way.

import type { FaultSpec, JournalEntry, LedgerEntry } from '../sandbox/index.js';
import { CHECK_USER_AGENT, CheckAborted } from './agent.js';

export interface SandboxFixtures {
  integrators: { project_code: string; key_file: string | null }[];
  clients: { client_id: string; client_secret: string; project_code: string; redirect_uris: string[] }[];
}

export interface Minted {
  code?: string;
  state: string;
  /** The callback URL Noon would send the seller back to. */
  location: string;
}

/** A failure to talk to the sandbox: the run cannot judge anything without it. */
export class SandboxUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUnavailable';
  }
}

export class SandboxLink {
  readonly url: string;
  readonly #token: string | undefined;

  constructor(url: string, token?: string) {
    this.url = url.replace(/\/+$/, '');
    this.#token = token;
  }

  async #call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { 'user-agent': CHECK_USER_AGENT };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(10_000)]) : AbortSignal.timeout(10_000),
      });
    } catch (e) {
      if (signal?.aborted) throw new CheckAborted();
      throw new SandboxUnavailable(
        `the sandbox at ${this.url} did not answer ${method} ${path.split('?')[0]} (${(e as Error).name})`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let reason = '';
      try {
        const j = JSON.parse(text) as { message?: string };
        reason = j.message ? `: ${j.message}` : '';
      } catch {}
      throw new SandboxUnavailable(
        `the sandbox answered ${res.status} to ${method} ${path.split('?')[0]}${reason}`,
      );
    }
    return JSON.parse(text) as T;
  }

  fixtures(signal?: AbortSignal): Promise<SandboxFixtures> {
    return this.#call('GET', '/_sandbox/fixtures', undefined, signal);
  }

  setSwitches(patch: Record<string, unknown>): Promise<unknown> {
    return this.#call('PATCH', '/_sandbox/switches', patch);
  }

  addClient(body: {
    client_id?: string;
    client_secret?: string;
    name: string;
    redirect_uris: string[];
  }): Promise<{ client_id: string; client_secret: string }> {
    return this.#call('POST', '/_sandbox/clients', body);
  }

  addSeller(
    body: {
      email: string;
      password: string;
      name: string;
      projects: { project_code: string; name: string }[];
    },
    signal?: AbortSignal,
  ): Promise<unknown> {
    return this.#call('POST', '/_sandbox/sellers', body, signal);
  }

  /** A consent without a browser: a code for the seller project (or, with `deny`, a refusal). */
  authorize(
    body: {
      client_id: string;
      email: string;
      project_code: string;
      state: string;
      redirect_uri: string;
      decision?: 'approve' | 'deny';
    },
    signal?: AbortSignal,
  ): Promise<Minted> {
    return this.#call('POST', '/_sandbox/authorize', body, signal);
  }

  async addFault(spec: FaultSpec, signal?: AbortSignal): Promise<string> {
    return (await this.#call<{ id: string }>('POST', '/_sandbox/faults', spec, signal)).id;
  }

  async removeFault(id: string): Promise<void> {
    await this.#call('DELETE', `/_sandbox/faults/${encodeURIComponent(id)}`).catch(() => {});
  }

  async journal(sellerProject: string, signal?: AbortSignal): Promise<JournalEntry[]> {
    const q = new URLSearchParams({ seller_project: sellerProject });
    return (await this.#call<{ entries: JournalEntry[] }>('GET', `/_sandbox/journal?${q}`, undefined, signal))
      .entries;
  }

  async ledger(sellerProject: string, signal?: AbortSignal): Promise<LedgerEntry[]> {
    const q = new URLSearchParams({ seller_project: sellerProject });
    return (
      await this.#call<{ credentials: LedgerEntry[] }>('GET', `/_sandbox/ledger?${q}`, undefined, signal)
    ).credentials;
  }
}
