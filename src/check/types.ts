// The shapes `noon-connect check` produces: one result per case, cases grouped by check, checks in one report.
// The report is the `--json` output as is; docs/check.md documents it, so changes here are additive only.

export type Outcome = 'PASS' | 'FAIL' | 'WARN' | 'SKIP';

export interface CaseResult {
  /** `<check id>.<case>`, e.g. `state.forged`. */
  id: string;
  title: string;
  outcome: Outcome;
  /** One sentence: what was sent, what the application answered, what the sandbox shows. */
  evidence: string;
  durationMs: number;
}

export interface CheckResult {
  id: CheckId;
  title: string;
  /** The line of Noon's go-live checklist (or of the flow) this check serves. */
  checklist: string;
  /** The worst outcome of its cases (FAIL over WARN over PASS; SKIP when every case was skipped). */
  outcome: Outcome;
  /** The evidence of the case that decided the outcome. */
  evidence: string;
  durationMs: number;
  cases: CaseResult[];
}

export interface CheckReport {
  /** Names this shape; a new version means a change that is not additive. */
  schema: 'noon-connect.check/v1';
  startedAt: string;
  durationMs: number;
  app: { start: string; callback: string };
  sandbox: { url: string; started: boolean };
  /** True when no check failed and the run itself did not fail. */
  ok: boolean;
  summary: Record<Lowercase<Outcome>, number>;
  /** A problem that stopped the run before or between checks (the application never answered, …), else null. */
  error: string | null;
  checks: CheckResult[];
}

export const CHECK_IDS = [
  'happy-path',
  'state',
  'code-once',
  'errors',
  'token-expiry',
  'immediacy',
  'https',
  'login',
  'secrets',
] as const;
export type CheckId = (typeof CHECK_IDS)[number];

/** What counts as "the application reports success" on the page the seller lands on after the callback. */
export interface SuccessCriterion {
  /** Final HTTP status: exact codes or classes such as `2xx`. */
  status: readonly string[];
  /** The final URL (after the application's own redirects) must match, when set. */
  url: RegExp | null;
  /** The final page must match this. */
  body: RegExp | null;
  /** The final page must not match this. */
  notBody: RegExp | null;
}
