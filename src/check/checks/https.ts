// https: HTTPS only in production. The start URL and the callback must be https unless they are on a loopback
// address (a local run); codes and the seller's session would otherwise cross the network in clear.

import { type Cases, type CheckDef, fail, pass } from '../cases.js';
import { isLoopbackHost } from '../cookie-jar.js';

export const httpsCheck: CheckDef = {
  id: 'https',
  title: 'HTTPS outside loopback',
  checklist: 'HTTPS only in production',
  async run(cases: Cases) {
    const { o } = cases.run;
    await cases.case('https.urls', 'The start URL and the callback use https', async () => {
      const plain = [
        ['start URL', o.start],
        ['callback', o.callback],
      ].filter(([, u]) => (u as URL).protocol === 'http:' && !isLoopbackHost((u as URL).hostname)) as [
        string,
        URL,
      ][];
      if (plain.length > 0)
        return fail(
          `the ${plain.map(([n, u]) => `${n} ${u.origin}${u.pathname}`).join(' and the ')} use${plain.length === 1 ? 's' : ''} plain http on a host that is not loopback: codes and the seller's session would cross the network in clear`,
        );
      const local = [o.start, o.callback].some((u) => u.protocol === 'http:');
      return pass(
        local
          ? 'plain http on a loopback address only (a local run); any other host must use https'
          : 'the start URL and the callback use https',
      );
    });
  },
};
