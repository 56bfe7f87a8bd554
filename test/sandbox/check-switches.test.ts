// The sandbox parts `noon-connect check` stands on: the requireOAuthSession switch (§7, NC30), journal entries that
// say what a request was about (seller project, key, session, User-Agent) without a secret, faults scoped to one
// seller project, the `expire` fault, and a denial through the admin authorize route (NC21).

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { gw, startSandbox } from '../helpers/sandbox.js';
import { OAuthSteps, reason, TOKEN_CREATE, TOKEN_EXCHANGE } from './oauth-steps.js';

let sb: Sandbox;
let steps: OAuthSteps;
let cookie: string;

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 4 });
  steps = new OAuthSteps(sb, '77');
  cookie = await steps.login(sb.fixtures.integrator.key!);
});

afterAll(async () => {
  await sb?.close();
});

beforeEach(() => {
  sb.setSwitches({ requireOAuthSession: true });
  sb.faults.clear();
  steps.resetFailureWindow();
});

describe('requireOAuthSession', () => {
  it('is on by default: token/create and token/exchange without the session answer 401 SESSION_REQUIRED', async () => {
    expect(sb.switches.requireOAuthSession).toBe(true);
    const project = steps.freshSellerProject();
    const { code } = steps.code({ projectCode: project });
    const r = await steps.create(undefined, { code });
    expect(r.status).toBe(401);
    expect(reason(r)).toBe('SESSION_REQUIRED');
    const { accessToken } = await steps.accessToken(cookie, { projectCode: steps.freshSellerProject() });
    const x = await steps.exchange(undefined, accessToken);
    expect(x.status).toBe(401);
    expect(reason(x)).toBe('SESSION_REQUIRED');
  });

  it('off: both calls work without the session, acting for the client’s project, and deliver one credential', async () => {
    sb.setSwitches({ requireOAuthSession: false });
    const project = steps.freshSellerProject();
    const { code } = steps.code({ projectCode: project });
    const r = await steps.create(undefined, { code });
    expect(r.status).toBe(200);
    expect(r.json.project_code).toBe(project);
    const x = await steps.exchange(undefined, r.json.access_token);
    expect(x.status).toBe(200);
    expect(x.json.status.code).toBe(0);
    expect(x.json.result.project_code).toBe(project);
    const ledger = sb.ledger.entries({ sellerProject: project });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]!.ownerProject).toBe(sb.fixtures.integrator.projectCode);
  });

  it('off: a session that is presented is still checked', async () => {
    sb.setSwitches({ requireOAuthSession: false });
    const { code } = steps.code({ projectCode: steps.freshSellerProject() });
    const r = await steps.create('_npsid=not-a-session', { code });
    expect(r.status).toBe(401);
    expect(reason(r)).toBe('SESSION_REQUIRED');
  });

  it('is refused with a bad value', async () => {
    const r = await gw(sb, '/_sandbox/switches', { method: 'PATCH', body: { requireOAuthSession: 'no' } });
    expect(r.status).toBe(400);
  });
});

describe('journal subject', () => {
  it('names the seller project, whether the session and a User-Agent came, and never a secret', async () => {
    sb.setSwitches({ requireOAuthSession: false, requireUserAgent: false });
    try {
      const project = steps.freshSellerProject();
      const since = sb.journal.lastSeq;
      const { code } = steps.code({ projectCode: project });
      const created = await steps.create(cookie, { code });
      await steps.call(TOKEN_EXCHANGE, { body: { access_token: created.json.access_token }, ua: null });
      const entries = sb.journal.entries({ sinceSeq: since, sellerProject: project });
      expect(entries.map((e) => [e.endpoint, e.status, e.session, e.userAgent])).toEqual([
        ['token.create', 200, true, true],
        ['token.exchange', 200, false, false],
      ]);
      const viaAdmin = await gw(sb, `/_sandbox/journal?seller_project=${project}&since=${since}`);
      expect(viaAdmin.json.entries.map((e: { endpoint: string }) => e.endpoint)).toEqual([
        'token.create',
        'token.exchange',
      ]);
      expect(await steps.leakedSecrets()).toEqual([]);
    } finally {
      sb.setSwitches({ requireUserAgent: true });
    }
  });

  it('names the key a login used, and the seller project its account serves', async () => {
    const project = steps.freshSellerProject();
    const key = await steps.connect(cookie, { projectCode: project });
    const since = sb.journal.lastSeq;
    const sellerCookie = await steps.login(key, project);
    await steps.call('/identity/v1/whoami', { cookie: sellerCookie });
    const entries = sb.journal.entries({ sinceSeq: since });
    expect(entries.map((e) => [e.endpoint, e.keyId, e.sellerProject])).toEqual([
      ['login', key.key_id, project],
      ['whoami', key.key_id, project],
    ]);
  });
});

describe('faults scoped to a seller project', () => {
  it('affect only calls about that project', async () => {
    const a = steps.freshSellerProject();
    const b = steps.freshSellerProject();
    sb.addFault({ endpoint: 'token.create', sellerProject: a, action: { type: 'status', status: 503 } });
    const rb = await steps.create(cookie, { code: steps.code({ projectCode: b }).code });
    expect(rb.status).toBe(200);
    const ra = await steps.create(cookie, { code: steps.code({ projectCode: a }).code });
    expect(ra.status).toBe(503);
    expect(sb.faults.list()).toHaveLength(0);
  });

  it('refuse a bad project code', async () => {
    const r = await gw(sb, '/_sandbox/faults', {
      body: { endpoint: 'token.create', sellerProject: 'bad code!', action: { type: 'hang' } },
    });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/sellerProject/);
  });
});

describe('the expire fault', () => {
  it('on token.exchange: the access token has expired, 400 TOKEN_EXPIRED, no credential', async () => {
    const project = steps.freshSellerProject();
    const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
    sb.addFault({ endpoint: 'token.exchange', sellerProject: project, action: { type: 'expire' } });
    const x = await steps.exchange(cookie, accessToken);
    expect(x.status).toBe(400);
    expect(reason(x)).toBe('TOKEN_EXPIRED');
    expect(sb.ledger.entries({ sellerProject: project })).toEqual([]);
    const e = sb.journal.entries({ endpoint: 'token.exchange', sellerProject: project });
    expect(e.at(-1)?.fault).toBe('expire');
  });

  it('on token.create: the code has expired, 400 CODE_EXPIRED', async () => {
    const project = steps.freshSellerProject();
    sb.addFault({ endpoint: 'token.create', sellerProject: project, action: { type: 'expire' } });
    const r = await steps.create(cookie, { code: steps.code({ projectCode: project }).code });
    expect(r.status).toBe(400);
    expect(reason(r)).toBe('CODE_EXPIRED');
  });

  it('is refused on other endpoints', async () => {
    const r = await gw(sb, '/_sandbox/faults', { body: { endpoint: 'login', action: { type: 'expire' } } });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/token\.create and token\.exchange/);
  });
});

describe('admin authorize with decision deny', () => {
  it('records a denied request and returns the access_denied redirect with the state', async () => {
    const project = steps.freshSellerProject();
    const r = await gw(sb, '/_sandbox/authorize', {
      body: { project_code: project, state: 'st-123', decision: 'deny' },
    });
    expect(r.status).toBe(201);
    expect(r.json.code).toBeUndefined();
    const loc = new URL(r.json.location);
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('state')).toBe('st-123');
    expect(loc.searchParams.has('code')).toBe(false);
    const requests = (await gw(sb, '/_sandbox/requests')).json.requests as {
      sellerProject: string;
      status: string;
    }[];
    expect(requests.filter((q) => q.sellerProject === project).map((q) => q.status)).toEqual(['DENIED']);
  });

  it('refuses another decision', async () => {
    const r = await gw(sb, '/_sandbox/authorize', { body: { decision: 'maybe' } });
    expect(r.status).toBe(400);
  });
});

it('a token/create without session and with the switch on is journaled as such', async () => {
  const since = sb.journal.lastSeq;
  await steps.call(TOKEN_CREATE, { body: { grant_type: 'authorization_code' } });
  const e = sb.journal.entries({ sinceSeq: since, endpoint: 'token.create' });
  expect(e.map((x) => [x.status, x.session, x.userAgent])).toEqual([[401, false, true]]);
});
