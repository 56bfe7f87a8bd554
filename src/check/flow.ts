// The connect flow as the checker drives it: start at the application (it must send the browser to Noon's
// consent page with its client_id and a state), mint the seller's consent through the sandbox (no browser), bring
// the callback back to the application, and read what the sandbox's journal and ledger recorded for the project.

import type { JournalEntry, LedgerEntry } from '../sandbox/index.js';
import type { Agent, Answer } from './agent.js';
import { claimsSuccess, describeAnswer } from './answer.js';
import type { Run, SellerProject } from './run.js';

export type Started =
  | { ok: true; consent: URL; state: string; redirectUri: string; answer: Answer }
  | { ok: false; evidence: string };

export interface Connected {
  /** The whole flow ran and the application reported success. */
  ok: boolean;
  project: SellerProject;
  agent: Agent;
  state?: string;
  redirectUri?: string;
  callback?: URL;
  answer?: Answer;
  claimed: boolean;
  /** Why it is not ok. */
  evidence: string;
}

export interface Upstream {
  creates: JournalEntry[];
  exchanges: JournalEntry[];
  logins: JournalEntry[];
  credentials: LedgerEntry[];
  delivered: LedgerEntry[];
}

/** The consent URL the application sent the browser to: a redirect, or else a link or form in its page. */
function consentUrl(a: Answer, authorize: URL): URL | undefined {
  if (a.kind !== 'answer') return undefined;
  const isConsent = (u: URL) => u.origin === authorize.origin && u.pathname === authorize.pathname;
  if (a.leftTo && isConsent(a.leftTo)) return a.leftTo;
  for (const m of a.body.matchAll(/(?:href|action|content)\s*=\s*["']([^"']+)["']/gi)) {
    const raw = m[1]!.replace(/&amp;/g, '&').replace(/^\d+;\s*url=/i, '');
    try {
      const u = new URL(raw, a.url);
      if (isConsent(u) && u.searchParams.has('client_id')) return u;
    } catch {}
  }
  return undefined;
}

/** GET the start URL; the application must answer with the way to the consent page. */
export async function startConnect(run: Run, agent: Agent): Promise<Started> {
  run.step = `GET ${run.o.start.pathname}`;
  const answer = await agent.get(run.o.start);
  const consent = consentUrl(answer, run.authorizeUrl);
  if (!consent) {
    return {
      ok: false,
      evidence: `GET ${run.o.start.pathname} ${describeAnswer(answer, run.o.timeoutMs)} instead of sending the browser to the consent page ${run.authorizeUrl}`,
    };
  }
  const clientId = consent.searchParams.get('client_id');
  if (clientId !== run.clientId) {
    return {
      ok: false,
      evidence: `the consent URL names client_id ${clientId === null ? '(none)' : `'${clientId.slice(0, 64)}'`}, not the configured '${run.clientId}'`,
    };
  }
  const state = consent.searchParams.get('state');
  if (!state) return { ok: false, evidence: 'the consent URL carries no state parameter' };
  const redirectUri = consent.searchParams.get('redirect_uri') ?? run.o.callback.toString();
  return { ok: true, consent, state, redirectUri, answer };
}

/** The seller's decision on the consent page, minted by the sandbox: the callback URL Noon sends back. */
export async function consent(
  run: Run,
  project: SellerProject,
  state: string,
  redirectUri: string,
  decision: 'approve' | 'deny' = 'approve',
): Promise<{ callback: URL; code: string | undefined }> {
  run.step = 'minting a consent in the sandbox';
  const m = await run.link.authorize(
    {
      client_id: run.clientId,
      email: project.email,
      project_code: project.code,
      state,
      redirect_uri: redirectUri,
      decision,
    },
    run.signal,
  );
  run.scanner.add('authorization code', m.code);
  return { callback: new URL(m.location), code: m.code };
}

/** Brings a callback URL to the application in this browser. */
export async function deliver(run: Run, agent: Agent, url: URL): Promise<Answer> {
  run.step = `GET ${url.pathname}`;
  return agent.get(url);
}

/** A whole connect for a fresh seller project (or the given one) in a fresh browser (or the given one). */
export async function connect(run: Run, project?: SellerProject, agent?: Agent): Promise<Connected> {
  const p = project ?? (await run.newProject());
  const a = agent ?? run.agent();
  const started = await startConnect(run, a);
  if (!started.ok) return { ok: false, project: p, agent: a, claimed: false, evidence: started.evidence };
  const { callback } = await consent(run, p, started.state, started.redirectUri);
  const answer = await deliver(run, a, callback);
  const claimed = claimsSuccess(answer, run.o.success);
  return {
    ok: claimed,
    project: p,
    agent: a,
    state: started.state,
    redirectUri: started.redirectUri,
    callback,
    answer,
    claimed,
    evidence: claimed
      ? ''
      : `the callback ${describeAnswer(answer, run.o.timeoutMs)}, which does not read as success`,
  };
}

/** What the sandbox recorded for the project: OAuth calls, logins, credentials. */
export async function upstream(run: Run, project: SellerProject): Promise<Upstream> {
  run.step = 'reading the sandbox journal and ledger';
  const [entries, credentials] = await Promise.all([
    run.link.journal(project.code, run.signal),
    run.link.ledger(project.code, run.signal),
  ]);
  return {
    creates: entries.filter((e) => e.endpoint === 'token.create'),
    exchanges: entries.filter((e) => e.endpoint === 'token.exchange'),
    logins: entries.filter((e) => e.endpoint === 'login'),
    credentials,
    delivered: credentials.filter((c) => c.delivered),
  };
}

function calls(name: string, entries: JournalEntry[]): string {
  if (entries.length === 0) return `no ${name}`;
  return `${name} ${entries.map((e) => (e.status === 0 ? 'no answer' : String(e.status))).join(', ')}`;
}

/** "sandbox: token/create 200; token/exchange 200; 1 credential delivered" */
export function summary(u: Upstream): string {
  const undelivered = u.credentials.length - u.delivered.length;
  const creds =
    u.credentials.length === 0
      ? 'no credential'
      : `${u.delivered.length} credential${u.delivered.length === 1 ? '' : 's'} delivered${undelivered > 0 ? `, ${undelivered} issued but not delivered` : ''}`;
  return `sandbox: ${calls('token/create', u.creates)}; ${calls('token/exchange', u.exchanges)}; ${creds}`;
}
