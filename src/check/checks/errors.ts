// errors: error responses are handled appropriately. token/create and token/exchange answer 5xx, 429, nothing
// (a hang past the application's timeout), a reset, a malformed body, or HTTP 200 with status.code ≠ 0; the seller
// denies on the consent page. The application must answer, must not claim a success the ledger does not show, and
// must still start the next connect. Each fault is scoped to the case's own seller project.

import { randomUUID } from 'node:crypto';
import type { FaultAction } from '../../sandbox/index.js';
import { type Cases, type CheckDef, type Verdict, warn } from '../cases.js';
import { consent, deliver, startConnect, upstream } from '../flow.js';
import type { Run } from '../run.js';
import { afterFault, NOTHING_BEFORE, refusal } from '../verdicts.js';

function grpcError(code: number, reason: string, message: string) {
  return { code, message, details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason }] };
}

/** One connect while the sandbox misbehaves once on `endpoint` for this case's project only. */
export async function faultCase(
  run: Run,
  endpoint: 'token.create' | 'token.exchange',
  action: FaultAction | ((project: string) => FaultAction),
  what: string,
): Promise<Verdict> {
  const project = await run.newProject();
  const agent = run.agent();
  const started = await startConnect(run, agent);
  if (!started.ok) return warn(`could not start a connect, so this was not tried: ${started.evidence}`);
  run.step = `adding a fault on ${endpoint}`;
  const id = await run.link.addFault(
    {
      endpoint,
      sellerProject: project.code,
      action: typeof action === 'function' ? action(project.code) : action,
    },
    run.signal,
  );
  try {
    const { callback } = await consent(run, project, started.state, started.redirectUri);
    const answer = await deliver(run, agent, callback);
    return await afterFault(run, what, answer, await upstream(run, project));
  } finally {
    await run.link.removeFault(id);
  }
}

const CASES: {
  id: string;
  title: string;
  endpoint: 'token.create' | 'token.exchange';
  action: FaultAction | ((project: string) => FaultAction);
  what: string;
}[] = [
  {
    id: 'errors.create-503',
    title: 'token/create answers 503',
    endpoint: 'token.create',
    action: { type: 'status', status: 503, body: grpcError(14, 'UNAVAILABLE', 'the service is unavailable') },
    what: 'With token/create answering 503',
  },
  {
    id: 'errors.exchange-500',
    title: 'token/exchange answers 500',
    endpoint: 'token.exchange',
    action: { type: 'status', status: 500, body: grpcError(13, 'INTERNAL', 'internal error') },
    what: 'With token/exchange answering 500',
  },
  {
    id: 'errors.create-429',
    title: 'token/create answers 429',
    endpoint: 'token.create',
    action: { type: 'rate-limit', retryAfter: 1 },
    what: 'With token/create answering 429 (rate limited)',
  },
  {
    id: 'errors.exchange-429',
    title: 'token/exchange answers 429',
    endpoint: 'token.exchange',
    action: { type: 'rate-limit', retryAfter: 1 },
    what: 'With token/exchange answering 429 (rate limited)',
  },
  {
    id: 'errors.create-hang',
    title: 'token/create never answers',
    endpoint: 'token.create',
    action: { type: 'hang' },
    what: 'With token/create never answering',
  },
  {
    id: 'errors.exchange-hang',
    title: 'token/exchange never answers',
    endpoint: 'token.exchange',
    action: { type: 'hang' },
    what: 'With token/exchange never answering',
  },
  {
    id: 'errors.create-reset',
    title: 'token/create resets the connection',
    endpoint: 'token.create',
    action: { type: 'reset' },
    what: 'With token/create resetting the connection mid-answer',
  },
  {
    id: 'errors.exchange-reset',
    title: 'token/exchange resets the connection',
    endpoint: 'token.exchange',
    action: { type: 'reset' },
    what: 'With token/exchange resetting the connection mid-answer (the credential was made upstream)',
  },
  {
    id: 'errors.create-malformed',
    title: 'token/create answers an HTML page',
    endpoint: 'token.create',
    action: { type: 'malformed', body: 'html' },
    what: 'With token/create answering 200 with an HTML page',
  },
  {
    id: 'errors.exchange-malformed',
    title: 'token/exchange answers truncated JSON',
    endpoint: 'token.exchange',
    action: { type: 'malformed', body: 'truncated' },
    what: 'With token/exchange answering 200 with truncated JSON',
  },
  {
    id: 'errors.exchange-status',
    title: 'token/exchange answers 200 with status.code 9',
    endpoint: 'token.exchange',
    // NC29, NC33: HTTP 200 whose workflow status failed (the 5-key limit); no result, nothing was created.
    action: (project) => ({
      type: 'status',
      status: 200,
      body: {
        status: { code: 9, message: 'service account already has 5 keys' },
        project_code: project,
        oauth_request_id: randomUUID(),
      },
    }),
    what: 'With token/exchange answering HTTP 200 but status.code 9 (the 5-key limit) and no result',
  },
];

export const errorsCheck: CheckDef = {
  id: 'errors',
  title: 'Noon errors are handled',
  checklist: 'Error responses are handled appropriately',
  async run(cases: Cases) {
    const { run } = cases;
    for (const c of CASES)
      await cases.case(c.id, c.title, () => faultCase(run, c.endpoint, c.action, c.what));
    await cases.case('errors.access-denied', 'The seller denies on the consent page', async () => {
      const project = await run.newProject();
      const agent = run.agent();
      const started = await startConnect(run, agent);
      if (!started.ok) return warn(`could not start a connect, so this was not tried: ${started.evidence}`);
      const { callback } = await consent(run, project, started.state, started.redirectUri, 'deny');
      const answer = await deliver(run, agent, callback);
      return refusal(
        run,
        'With error=access_denied from the consent page',
        answer,
        NOTHING_BEFORE,
        await upstream(run, project),
      );
    });
  },
};
