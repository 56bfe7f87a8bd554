// code-once: authorization codes are used only once. The same callback again must not reach token/create (the
// application knows it handled it), and a code already redeemed, brought back under a fresh state, must yield no
// second credential and no claim of success (only Noon can tell that code is spent, so token/create may be called).

import { type Cases, type CheckDef, warn } from '../cases.js';
import { type Connected, connect, consent, startConnect } from '../flow.js';
import { refusalAfter, withoutFirstConnect } from '../verdicts.js';

export const codeOnce: CheckDef = {
  id: 'code-once',
  title: 'Codes are used once',
  checklist: 'Authorization codes are used only once',
  async run(cases: Cases) {
    const { run } = cases;
    let first: Connected | undefined;
    const firstConnect = async () => {
      first ??= await connect(run);
      return first;
    };
    await cases.case(
      'code-once.same-callback',
      'The same callback twice reaches token/create once',
      async () => {
        const c = await firstConnect();
        return (
          withoutFirstConnect(c) ??
          refusalAfter(run, c, c.callback!, 'With the same callback a second time', { claimAllowed: true })
        );
      },
    );
    await cases.case('code-once.old-code', 'A redeemed code under a fresh state gives nothing', async () => {
      const c = await firstConnect();
      const missing = withoutFirstConnect(c);
      if (missing) return missing;
      const started = await startConnect(run, c.agent);
      if (!started.ok) return warn(`could not start a second connect: ${started.evidence}`);
      // The fresh state's own consent, with the old code put in its place: what an attacker or a stale tab sends.
      const { callback } = await consent(run, c.project, started.state, started.redirectUri);
      const url = new URL(callback);
      url.searchParams.set('code', c.callback!.searchParams.get('code') ?? '');
      return refusalAfter(run, c, url, 'With an already redeemed code under a fresh state', {
        createAllowed: true,
      });
    });
  },
};
