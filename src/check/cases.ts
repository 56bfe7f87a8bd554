// How a check records its cases: selected by --only/--skip, timed, evidence stripped of any secret the checker
// knows, and kept as they finish so a check cut short by its deadline still reports what it did.

import type { Run } from './run.js';
import type { CaseResult, CheckId, Outcome } from './types.js';

export interface Verdict {
  outcome: Outcome;
  evidence: string;
}

export const pass = (evidence: string): Verdict => ({ outcome: 'PASS', evidence });
export const fail = (evidence: string): Verdict => ({ outcome: 'FAIL', evidence });
export const warn = (evidence: string): Verdict => ({ outcome: 'WARN', evidence });
export const skip = (evidence: string): Verdict => ({ outcome: 'SKIP', evidence });

export class Cases {
  readonly results: CaseResult[] = [];

  constructor(readonly run: Run) {}

  /** Runs one case unless it is deselected. */
  async case(id: string, title: string, body: () => Promise<Verdict>): Promise<void> {
    if (!this.run.wants(id)) return;
    const started = performance.now();
    const v = await body();
    this.add(id, title, v, performance.now() - started);
  }

  add(id: string, title: string, v: Verdict, durationMs: number): void {
    const evidence = this.run.scanner.redact(v.evidence);
    this.results.push({ id, title, outcome: v.outcome, evidence, durationMs: Math.round(durationMs) });
  }
}

export interface CheckDef {
  id: CheckId;
  title: string;
  /** The go-live checklist line (or flow requirement) it serves. */
  checklist: string;
  run(cases: Cases): Promise<void>;
}
