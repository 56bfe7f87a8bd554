// Every check, in the order a run takes them: secrets last, so it searches everything the others provoked.

import type { CheckDef } from '../cases.js';
import { codeOnce } from './code-once.js';
import { errorsCheck } from './errors.js';
import { happyPath } from './happy-path.js';
import { httpsCheck } from './https.js';
import { immediacy } from './immediacy.js';
import { loginCheck } from './login.js';
import { secretsCheck } from './secrets.js';
import { stateCheck } from './state.js';
import { tokenExpiry } from './token-expiry.js';

export const CHECKS: readonly CheckDef[] = [
  happyPath,
  stateCheck,
  codeOnce,
  errorsCheck,
  tokenExpiry,
  immediacy,
  httpsCheck,
  loginCheck,
  secretsCheck,
];
