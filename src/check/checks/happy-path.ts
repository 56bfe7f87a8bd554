// happy-path: one connect, observed end to end. One token/create and one token/exchange, both over the integrator
// session and with a User-Agent; exactly one credential delivered; the application says so. With --browser, the
// same once more through Noon's consent page in a real Chromium.

import type { JournalEntry } from '../../sandbox/index.js';
import { describeAnswer } from '../answer.js';
import { connectInBrowser } from '../browser.js';
import { type Cases, type CheckDef, fail, pass, skip, type Verdict } from '../cases.js';
import { type Connected, summary, type Upstream, upstream } from '../flow.js';

const NAMES: Record<string, string> = {
  'token.create': 'token/create',
  'token.exchange': 'token/exchange',
  login: 'the login with the new key',
};

function names(entries: JournalEntry[]): string {
  const list = [...new Set(entries.map((e) => NAMES[e.endpoint] ?? e.endpoint))];
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

/** The verdict on one whole connect (HTTP or browser). */
export function flowVerdict(c: Connected, up: Upstream, timeoutMs: number): Verdict {
  if (!c.answer) return fail(c.evidence);
  const sandbox = summary(up);
  if (up.creates.length !== 1)
    return fail(`token/create was called ${up.creates.length} times for one consent (${sandbox})`);
  if (up.exchanges.length !== 1)
    return fail(`token/exchange was called ${up.exchanges.length} times for one access token (${sandbox})`);
  if (up.delivered.length !== 1 || up.credentials.length !== 1)
    return fail(`one connect should deliver exactly one credential (${sandbox})`);
  if (!c.claimed) return fail(`${c.evidence} (${sandbox})`);
  return pass(`the callback ${describeAnswer(c.answer, timeoutMs)}; ${sandbox}`);
}

export const happyPath: CheckDef = {
  id: 'happy-path',
  title: 'A seller connects',
  checklist:
    'The flow works: one token/create and one token/exchange over the integrator session, with a User-Agent; exactly one credential delivered; the application reports success',
  async run(cases: Cases) {
    const { run } = cases;
    let seen: { c: Connected; up: Upstream } | undefined;
    const observe = async () => {
      if (!seen) {
        const c = await run.connected();
        seen = { c, up: await upstream(run, c.project) };
      }
      return seen;
    };
    await cases.case('happy-path.flow', 'One connect, one credential, success reported', async () => {
      const { c, up } = await observe();
      return flowVerdict(c, up, run.o.timeoutMs);
    });
    await cases.case(
      'happy-path.session',
      'token/create and token/exchange carry the integrator session',
      async () => {
        const { up } = await observe();
        const calls = [...up.creates, ...up.exchanges];
        if (calls.length === 0)
          return skip('no token/create or token/exchange reached the sandbox to look at');
        const without = calls.filter((e) => e.session === false);
        if (without.length > 0)
          return fail(
            `${names(without)} went without the integrator session cookie (_npsid): Noon requires the integrator's own session on both calls (NC30, NC14)`,
          );
        return pass('token/create and token/exchange both carried the integrator session cookie');
      },
    );
    await cases.case('happy-path.user-agent', 'Every call to Noon sends a User-Agent', async () => {
      const { up } = await observe();
      const calls = [...up.creates, ...up.exchanges, ...up.logins];
      if (calls.length === 0) return skip('no call reached the sandbox to look at');
      const without = calls.filter((e) => e.userAgent === false);
      if (without.length > 0)
        return fail(`${names(without)} had no User-Agent header: Noon requires one on every request (NC7)`);
      return pass(`${names(calls)} all sent a User-Agent`);
    });
    if (run.o.browser) {
      await cases.case(
        'happy-path.browser',
        'The same connect in a real Chromium, through the consent page',
        async () => {
          const c = await connectInBrowser(run);
          return flowVerdict(c, await upstream(run, c.project), run.o.timeoutMs);
        },
      );
    }
  },
};
