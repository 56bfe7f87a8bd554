// The two judgements most cases make. A refusal: a callback the application must turn away (no state, a forged
// or foreign state, a replay, a denial). An upstream fault: Noon misbehaved mid-flow, so the application must
// answer, must not claim a success the ledger does not show, and must still start the next connect.

import type { Answer } from './agent.js';
import { claimsSuccess, describeAnswer } from './answer.js';
import { fail, pass, type Verdict, warn } from './cases.js';
import { type Connected, deliver, startConnect, summary, type Upstream, upstream } from './flow.js';
import type { Run } from './run.js';

export interface RefusalRule {
  /** May the application call token/create (e.g. an old code under a fresh state: only Noon can tell)? */
  createAllowed?: boolean;
  /** May it say connected (a replay after success: the project is connected)? */
  claimAllowed?: boolean;
}

/** Counts before a callback for a fresh project: nothing yet. */
export const NOTHING_BEFORE = Object.freeze({ creates: 0, credentials: 0 });

/**
 * Judges a callback that must be refused, from the application's answer and what the sandbox recorded since
 * `before` (creates and credentials counted then).
 */
export function refusal(
  run: Run,
  what: string,
  answer: Answer,
  before: { creates: number; credentials: number },
  after: Upstream,
  rule: RefusalRule = {},
): Verdict {
  const said = describeAnswer(answer, run.o.timeoutMs);
  const newCreates = after.creates.length - before.creates;
  const newCredentials = after.credentials.length - before.credentials;
  const sandbox = summary(after);
  if (newCredentials > 0)
    return fail(`${what}, the application got a new credential (it ${said}; ${sandbox})`);
  if (!rule.createAllowed && newCreates > 0)
    return fail(
      `${what}, the application still called token/create${newCreates > 1 ? ` ${newCreates} times` : ''} (it ${said}; ${sandbox})`,
    );
  if (!rule.claimAllowed && claimsSuccess(answer, run.o.success))
    return fail(`${what}, the application ${said}, which reads as success (${sandbox})`);
  if (answer.kind === 'no-answer')
    return warn(
      `${what}, the application ${said}: refused, but that looks like an unhandled error (${sandbox})`,
    );
  // A 5xx is a fair answer to an error from Noon; with nothing sent to Noon it means the application broke.
  if (answer.status >= 500 && newCreates === 0)
    return warn(
      `${what}, nothing reached Noon, but the application ${said}: that looks like an unhandled error`,
    );
  return pass(
    `${what}, the application ${said}${newCreates === 0 ? ' and never called token/create' : ' and made no credential'} (${sandbox})`,
  );
}

/** Judges the answer to a callback while Noon misbehaved, then checks the next connect still starts. */
export async function afterFault(run: Run, what: string, answer: Answer, after: Upstream): Promise<Verdict> {
  const said = describeAnswer(answer, run.o.timeoutMs);
  const sandbox = summary(after);
  const claimed = claimsSuccess(answer, run.o.success);
  if (answer.kind === 'no-answer') return fail(`${what}, the application ${said} (${sandbox})`);
  if (claimed && after.delivered.length === 0)
    return fail(
      `${what}, the application ${said}, which reads as success, though no credential was delivered (${sandbox})`,
    );
  const next = await startConnect(run, run.agent());
  if (!next.ok)
    return fail(`${what}, the application ${said}, but then the next connect failed: ${next.evidence}`);
  if (!claimed && after.delivered.length > 0)
    return warn(
      `${what}, a credential was delivered but the application ${said}, which does not read as success: the key may be lost (${sandbox})`,
    );
  return pass(
    `${what}, the application ${said}${claimed ? ' after recovering' : ' without claiming success'} and the next connect still reached the consent page (${sandbox})`,
  );
}

/** Why a replay case cannot run: the first connect it replays did not finish. */
export function withoutFirstConnect(c: Connected): Verdict | undefined {
  if (c.ok && c.callback && c.state && c.redirectUri) return undefined;
  return warn(`could not finish a first connect, so a replay was not tried: ${c.evidence}`);
}

/** After the finished connect `c`, brings `url` to the application in the same browser and judges the refusal. */
export async function refusalAfter(
  run: Run,
  c: Connected,
  url: URL,
  what: string,
  rule: RefusalRule,
): Promise<Verdict> {
  const before = await upstream(run, c.project);
  const answer = await deliver(run, c.agent, url);
  const counts = { creates: before.creates.length, credentials: before.credentials.length };
  return refusal(run, what, answer, counts, await upstream(run, c.project), rule);
}
