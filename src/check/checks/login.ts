// login (with --verify-login): the key works. After the shared connect, the application logs in with the
// credential it received (the sandbox journals the login with that key's id) and Noon accepts it.

import { type Cases, type CheckDef, fail, pass, skip } from '../cases.js';
import { upstream } from '../flow.js';

const WAIT_MS = 3000;
const POLL_MS = 100;

export const loginCheck: CheckDef = {
  id: 'login',
  title: 'The new key logs in',
  checklist: 'The credential works: the application logs in with the new key',
  async run(cases: Cases) {
    const { run } = cases;
    await cases.case('login.new-key', 'The application logs in with the credential it received', async () => {
      if (!run.o.verifyLogin) return skip('not asked for (--verify-login)');
      const c = await run.connected();
      let up = await upstream(run, c.project);
      const key = up.delivered[0];
      if (!key) return fail(`no credential was delivered to log in with (${c.evidence || 'see happy-path'})`);
      // Some applications log in after answering the browser: give them a moment.
      const until = Date.now() + WAIT_MS;
      for (;;) {
        const ok = up.logins.find((e) => e.keyId === key.keyId && e.status === 200);
        if (ok) return pass(`the application logged in with the new key ${key.keyId} and Noon answered 200`);
        if (Date.now() >= until) break;
        await new Promise((r) => setTimeout(r, POLL_MS));
        up = await upstream(run, c.project);
      }
      const tried = up.logins.filter((e) => e.keyId === key.keyId);
      return fail(
        tried.length > 0
          ? `the login with the new key ${key.keyId} was refused (${tried.map((e) => e.status).join(', ')})`
          : `no login with the new key ${key.keyId} reached the sandbox within ${WAIT_MS / 1000} s of the callback`,
      );
    });
  },
};
