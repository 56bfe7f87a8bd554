// POST /identity/oauth/v1/token/exchange: a single-use access token becomes a brand-new credential of a service
// account in the integrator's project with access to the seller's project (NC29–NC33). The private key is in
// this one response only; the sandbox keeps just the public half.

import { type Context, oauthSession } from '../context.js';
import { TokenExpired, TokenInvalid, TokenNotOwned, TokenRevoked, TokenUsed } from '../errors.js';
import { json, readJsonObject, requiredString, type SandboxRequest, type SandboxResponse } from '../http.js';
import { decodeJwt, verifyRs256 } from '../jwt.js';
import { MAX_KEYS_PER_ACCOUNT, type ServiceAccount } from '../model.js';
import type { World } from '../world.js';
import { checkFailureBudget, failCode, NO_STORE, withNoStore } from './token-create.js';

/** gRPC FAILED_PRECONDITION: the workflow status when the account is out of key slots (NC33). */
const STATUS_FAILED_PRECONDITION = 9;

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 24) || 'app'
  );
}

/** NC33: the same seller project through the same client reuses its service account. */
function accountFor(
  world: World,
  clientId: string,
  integratorProject: string,
  sellerProject: string,
): ServiceAccount {
  const existing = world.oauthAccount(clientId, integratorProject, sellerProject);
  if (existing) return existing;
  const digits = integratorProject.replace(/\D/g, '') || '0';
  const account: ServiceAccount = {
    userCode: `usr_${world.random.bytes(8).toString('hex')}`,
    channelIdentifier: `${slug(clientId)}-${slug(sellerProject)}-${world.random.bytes(3).toString('hex')}@p${digits}.idp.noon.partners`,
    ownerProject: integratorProject,
    projects: [sellerProject],
    name: `OAuth ${clientId} for ${sellerProject}`,
    createdAt: world.clock.now(),
    origin: 'oauth',
    clientId,
    sellerProject,
  };
  world.addAccount(account);
  return account;
}

export function tokenExchange(req: SandboxRequest, ctx: Context): Promise<SandboxResponse> {
  return withNoStore(() => exchange(req, ctx));
}

/** Keeps the first answer for the exchange-replay switch, with the ledger entry it delivers, if any. */
function keepForReplay(ctx: Context, jti: string, res: SandboxResponse, ledgerSeq?: number): void {
  if (!ctx.switches.exchangeReplay) return;
  const t = ctx.world.tokens.get(jti);
  if (t)
    ctx.world.tokens.put(jti, {
      ...t,
      replayBody: res.body as string,
      ...(ledgerSeq !== undefined ? { replayLedgerSeq: ledgerSeq } : {}),
    });
}

async function exchange(req: SandboxRequest, ctx: Context): Promise<SandboxResponse> {
  const { world } = ctx;
  const session = oauthSession(req, ctx);
  const body = readJsonObject(req, ctx.switches.requireJsonContentType);
  const accessToken = requiredString(body, 'access_token', 16_384);
  if (session) checkFailureBudget(ctx, session.projectCode);

  const jwt = decodeJwt(accessToken);
  const jti = jwt?.payload.jti;
  if (!jwt || typeof jti !== 'string' || !verifyRs256(jwt, ctx.signingPublicKey)) {
    failCode(ctx, session?.projectCode, new TokenInvalid());
  }
  const token = world.tokens.get(jti);
  if (!token) failCode(ctx, session?.projectCode, new TokenInvalid());
  // Without a session (the requireOAuthSession switch off) the call acts for the project the token was issued to.
  const project = session?.projectCode ?? token.integratorProject;
  if (!session) checkFailureBudget(ctx, project);
  if (token.integratorProject !== project) failCode(ctx, project, new TokenNotOwned());
  if (token.revokedAt !== undefined) failCode(ctx, project, new TokenRevoked());
  if (token.usedAt !== undefined) {
    if (ctx.switches.exchangeReplay && token.replayBody !== undefined) {
      const replay: SandboxResponse = {
        status: 200,
        headers: { 'content-type': 'application/json', ...NO_STORE },
        body: token.replayBody,
        project,
      };
      // A replay hands over the same key: when the first answer was lost, this one is the delivery.
      const seq = token.replayLedgerSeq;
      if (seq !== undefined) replay.onDelivered = () => world.markDelivered(seq);
      return replay;
    }
    failCode(ctx, project, new TokenUsed());
  }
  const now = world.clock.now();
  if (now >= token.expiresAt) failCode(ctx, project, new TokenExpired());

  // Spent before anything is awaited, so two parallel exchanges of one token yield at most one credential (NC32).
  world.tokens.put(token.jti, { ...token, usedAt: now });

  const account = accountFor(world, token.clientId, project, token.sellerProject);
  const base = { project_code: token.sellerProject, oauth_request_id: token.oauthRequestId };
  const keyLimitAnswer = (): SandboxResponse => {
    world.setRequestStatus(token.oauthRequestId, 'FAILED', {
      userCode: account.userCode,
      failure: 'KEY_LIMIT',
    });
    const r = json(
      200,
      {
        status: {
          code: STATUS_FAILED_PRECONDITION,
          message: `service account already has ${MAX_KEYS_PER_ACCOUNT} keys`,
        },
        ...base,
      },
      { ...NO_STORE },
    );
    r.project = project;
    r.reason = 'KEY_LIMIT';
    keepForReplay(ctx, token.jti, r);
    return r;
  };
  if (world.activeKeys(account.userCode).length >= MAX_KEYS_PER_ACCOUNT) return keyLimitAnswer();

  const pair = await world.pool.take();
  const issued = world.addKey(account, pair, 'exchange', {
    oauthRequestId: token.oauthRequestId,
    sellerProject: token.sellerProject,
  });
  if (!issued) return keyLimitAnswer();
  world.setRequestStatus(token.oauthRequestId, 'COMPLETED', {
    userCode: account.userCode,
    keyId: issued.key.keyId,
  });
  const res = json(
    200,
    { status: { code: 0, message: 'OK' }, ...base, result: issued.file },
    { ...NO_STORE },
  );
  keepForReplay(ctx, token.jti, res, issued.ledger.seq);
  res.project = project;
  res.onDelivered = () => world.markDelivered(issued.ledger.seq);
  return res;
}
