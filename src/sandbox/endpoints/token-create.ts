// POST /identity/oauth/v1/token/create: an authorization code becomes a single-use access token (NC23–NC28).
// Checks run in the contract's order and a failed check consumes nothing (NC27).

import { type Context, oauthSession } from '../context.js';
import {
  ClientNotOwned,
  CodeExpired,
  CodeInvalid,
  CodeUsed,
  InvalidClient,
  RateLimited,
  SandboxError,
  UnsupportedGrantType,
} from '../errors.js';
import { json, readJsonObject, type SandboxRequest, type SandboxResponse } from '../http.js';
import { signRs256 } from '../jwt.js';
import { ACCESS_TOKEN_TTL_MS, type AccessTokenRecord } from '../model.js';
import { retryHeaders } from '../rate-limit.js';
import { secretMatches, sha256Hex } from '../world.js';

export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/**
 * NC28: token and exchange answers are never cacheable, refusals included (RFC 6749 §5.1 and §5.2). Runs a
 * handler and stamps `no-store` on any protocol error it throws, so every check can stay a plain `throw`.
 */
export function withNoStore<T>(run: () => T): T {
  const stamp = (e: unknown): never => {
    if (e instanceof SandboxError) Object.assign(e.headers, NO_STORE);
    throw e;
  };
  try {
    const out = run();
    return (out instanceof Promise ? out.catch(stamp) : out) as T;
  } catch (e) {
    return stamp(e);
  }
}

/** Refuses at once when the project is over its failed-code budget (NC38, E9). */
export function checkFailureBudget(ctx: Context, project: string): void {
  const wait = ctx.failedCodes?.blockedFor(project) ?? 0;
  if (wait > 0) throw new RateLimited('too many failed codes or tokens', retryHeaders(wait));
}

/** Counts a failed code or token against the project (when it is known yet), then throws the error. */
export function failCode(ctx: Context, project: string | undefined, error: SandboxError): never {
  if (project !== undefined) ctx.failedCodes?.hit(project);
  throw error;
}

/** A body field as a string, or undefined when it is absent or of another type (judged by the step that owns it). */
function field(body: Record<string, unknown>, name: string, maxLength: number): string | undefined {
  const v = body[name];
  return typeof v === 'string' && v !== '' && v.length <= maxLength ? v : undefined;
}

export function tokenCreate(req: SandboxRequest, ctx: Context): SandboxResponse {
  return withNoStore(() => create(req, ctx));
}

function create(req: SandboxRequest, ctx: Context): SandboxResponse {
  const { world } = ctx;
  const session = oauthSession(req, ctx);
  const body = readJsonObject(req, ctx.switches.requireJsonContentType);
  // NC27: each field is judged by its own step in the contract's order, so a missing or mistyped client_id is a
  // client failure (401), a mistyped grant_type a grant failure and a mistyped code a code failure, never an
  // earlier generic 400.
  const clientId = field(body, 'client_id', 256);
  const clientSecret = field(body, 'client_secret', 1024);
  const client = clientId === undefined ? undefined : world.clients.get(clientId);
  if (!client || clientSecret === undefined || !secretMatches(clientSecret, client.secretHash))
    throw new InvalidClient();
  if (session && client.projectCode !== session.projectCode) throw new ClientNotOwned();
  // Without a session (the requireOAuthSession switch off) the call acts for the project that owns the client.
  const project = session?.projectCode ?? client.projectCode;
  if (body.grant_type !== 'authorization_code') throw new UnsupportedGrantType();
  checkFailureBudget(ctx, project);
  const code = field(body, 'code', 1024);
  if (code === undefined) failCode(ctx, project, new CodeInvalid('code is required'));

  const now = world.clock.now();
  const hash = sha256Hex(code);
  const record = world.codes.get(hash);
  if (!record || record.clientId !== client.clientId) failCode(ctx, project, new CodeInvalid());
  if (record.usedAt !== undefined) {
    // NC26: reuse revokes the access token the code produced (RFC 6749 §4.1.2). A token already exchanged has
    // nothing left to revoke (the credential it made is the seller's now), so that request keeps its outcome.
    const t = record.accessTokenJti ? world.tokens.get(record.accessTokenJti) : undefined;
    if (t && t.revokedAt === undefined && t.usedAt === undefined) {
      world.tokens.put(t.jti, { ...t, revokedAt: now });
      world.setRequestStatus(record.oauthRequestId, 'REVOKED', { failure: 'CODE_USED' });
    }
    failCode(ctx, project, new CodeUsed());
  }
  if (now >= record.expiresAt) failCode(ctx, project, new CodeExpired());

  const jti = world.random.uuid();
  const token: AccessTokenRecord = {
    jti,
    clientId: client.clientId,
    integratorProject: project,
    sellerProject: record.sellerProject,
    oauthRequestId: record.oauthRequestId,
    createdAt: now,
    expiresAt: now + ACCESS_TOKEN_TTL_MS,
  };
  world.codes.put(hash, { ...record, usedAt: now, accessTokenJti: jti });
  world.tokens.put(jti, token);
  world.setRequestStatus(record.oauthRequestId, 'TOKEN_ISSUED');

  const iat = Math.floor(now / 1000);
  const accessToken = signRs256(
    { kid: 'sandbox-oauth-1' },
    {
      iss: ctx.issuer(),
      sub: record.sellerProject,
      aud: client.clientId,
      azp: project,
      scope: client.permission,
      iat,
      exp: iat + ACCESS_TOKEN_TTL_MS / 1000,
      jti,
    },
    ctx.signingKey,
  );
  const res = json(
    200,
    {
      access_token: accessToken,
      token_type: 'TOKEN_TYPE_BEARER',
      expires_in: `${ACCESS_TOKEN_TTL_MS / 1000}s`,
      scopes: [client.permission],
      project_code: record.sellerProject,
    },
    { ...NO_STORE },
  );
  res.project = project;
  return res;
}
