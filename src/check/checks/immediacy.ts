// immediacy: exchange the access token immediately. Measured on the shared connect, from the sandbox's journal:
// the time from token/create's answer to token/exchange's request.

import { type Cases, type CheckDef, fail, pass, warn } from '../cases.js';
import { upstream } from '../flow.js';

export const immediacy: CheckDef = {
  id: 'immediacy',
  title: 'The access token is exchanged at once',
  checklist: 'Exchange the access token immediately',
  async run(cases: Cases) {
    const { run } = cases;
    await cases.case('immediacy.delay', 'token/exchange follows token/create at once', async () => {
      const c = await run.connected();
      const up = await upstream(run, c.project);
      const created = up.creates.find((e) => e.status === 200);
      if (!created)
        return fail(
          `no token/create succeeded, so there was nothing to exchange (${c.evidence || 'see happy-path'})`,
        );
      const exchange = up.exchanges.find((e) => e.seq > created.seq);
      if (!exchange) return fail('no token/exchange followed the successful token/create');
      const delay = Math.max(0, Math.round(exchange.at - exchange.durationMs - created.at));
      const limit = run.o.maxExchangeDelayMs;
      if (delay > limit)
        return warn(
          `token/exchange came ${(delay / 1000).toFixed(1)} s after token/create answered (more than ${limit / 1000} s): the access token lives 1 hour and is single-use, exchange it in the same request`,
        );
      return pass(`token/exchange came ${delay} ms after token/create answered`);
    });
  },
};
