// token-expiry: token expiry is handled gracefully. The access token has expired by the time it is exchanged
// (Noon answers 400 TOKEN_EXPIRED); the application must answer without claiming success and keep working.

import type { Cases, CheckDef } from '../cases.js';
import { faultCase } from './errors.js';

export const tokenExpiry: CheckDef = {
  id: 'token-expiry',
  title: 'An expired access token is handled',
  checklist: 'Token expiry is handled gracefully',
  async run(cases: Cases) {
    await cases.case('token-expiry.exchange', 'The access token expired before the exchange', () =>
      faultCase(
        cases.run,
        'token.exchange',
        { type: 'expire' },
        'With the access token expired before token/exchange (400 TOKEN_EXPIRED)',
      ),
    );
  },
};
