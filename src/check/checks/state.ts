// state: the state parameter is validated to prevent CSRF. Each connect gets a fresh, unguessable state, and a
// callback without it, with a forged one, with one issued to another browser, or with one already used by a
// finished connect is refused before anything reaches Noon.

import { randomBytes } from 'node:crypto';
import { type Cases, type CheckDef, fail, pass, type Verdict, warn } from '../cases.js';
import { connect, consent, deliver, startConnect, upstream } from '../flow.js';
import type { Run } from '../run.js';
import { NOTHING_BEFORE, refusal, refusalAfter, withoutFirstConnect } from '../verdicts.js';

/** 128 bits in base64url is 22 characters; shorter than 16 is too little for any encoding. */
const MIN_STATE_LENGTH = 16;

type Variant = 'missing' | 'forged' | 'other-browser';

const WHAT: Record<Variant, string> = {
  missing: 'With a valid code but no state',
  forged: 'With a valid code and a forged state',
  'other-browser': 'With a valid code and a state issued to another browser (a CSRF attempt)',
};

/** A connect started in the seller's browser, then a callback the application must refuse. */
async function refuseVariant(run: Run, variant: Variant): Promise<Verdict> {
  const project = await run.newProject();
  const agent = run.agent();
  const started = await startConnect(run, agent);
  if (!started.ok) return warn(`could not start a connect, so this was not tried: ${started.evidence}`);
  const { callback } = await consent(run, project, started.state, started.redirectUri);
  const url = new URL(callback);
  if (variant === 'missing') url.searchParams.delete('state');
  if (variant === 'forged') url.searchParams.set('state', randomBytes(32).toString('base64url'));
  const browser = variant === 'other-browser' ? run.agent(false) : agent;
  const answer = await deliver(run, browser, url);
  return refusal(run, WHAT[variant], answer, NOTHING_BEFORE, await upstream(run, project));
}

export const stateCheck: CheckDef = {
  id: 'state',
  title: 'State is checked',
  checklist: 'The state parameter is validated to prevent CSRF',
  async run(cases: Cases) {
    const { run } = cases;
    await cases.case('state.fresh', 'Each connect gets a fresh, long state', async () => {
      const a = await startConnect(run, run.agent());
      const b = await startConnect(run, run.agent());
      if (!a.ok) return fail(a.evidence);
      if (!b.ok) return fail(b.evidence);
      if (a.state === b.state) return fail('two connects in two browsers got the same state');
      const shortest = Math.min(a.state.length, b.state.length);
      if (shortest < MIN_STATE_LENGTH)
        return warn(`the state has only ${shortest} characters: use at least 128 bits from a CSPRNG`);
      return pass(`two connects got different states of ${a.state.length} and ${b.state.length} characters`);
    });
    await cases.case('state.missing', 'A callback without state is refused', () =>
      refuseVariant(run, 'missing'),
    );
    await cases.case('state.forged', 'A callback with a forged state is refused', () =>
      refuseVariant(run, 'forged'),
    );
    await cases.case('state.other-browser', 'A state from another browser is refused', () =>
      refuseVariant(run, 'other-browser'),
    );
    await cases.case('state.replayed', 'A used state is refused, even with a new code', async () => {
      const first = await connect(run);
      const missing = withoutFirstConnect(first);
      if (missing) return missing;
      const { callback } = await consent(run, first.project, first.state!, first.redirectUri!);
      // The project is connected, so saying so is true; what must not happen is a second token/create.
      return refusalAfter(run, first, callback, 'With a new code under the state of a finished connect', {
        claimAllowed: true,
      });
    });
  },
};
