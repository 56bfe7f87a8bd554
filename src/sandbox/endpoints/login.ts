// POST /identity/public/v1/api/login: a service-account JWT becomes a session (NC5, NC6, NC9, NC10).

import type { Context } from '../context.js';
import { InvalidLoginToken, ProjectNotAllowed } from '../errors.js';
import {
  readJsonObject,
  requiredString,
  type SandboxRequest,
  type SandboxResponse,
  serializeCookie,
} from '../http.js';
import { decodeJwt, verifyRs256 } from '../jwt.js';
import { type GatewaySession, SESSION_TTL_MS } from '../model.js';

const IAT_FUTURE_S = 60;
const IAT_MAX_AGE_S = 300;
const JTI_WINDOW_MS = 10 * 60_000;

export function login(req: SandboxRequest, ctx: Context): SandboxResponse {
  const body = readJsonObject(req, ctx.switches.requireJsonContentType);
  const token = requiredString(body, 'token');
  const projectCode = requiredString(body, 'default_project_code', 64);
  const { world } = ctx;

  const jwt = decodeJwt(token);
  if (!jwt) throw new InvalidLoginToken('not a compact JWS');
  // NC10: only RS256; `none` and HS* are refused before anything else is looked at.
  if (jwt.header.alg !== 'RS256') throw new InvalidLoginToken('alg must be RS256');
  const { sub, iat, exp, jti } = jwt.payload;
  if (typeof sub !== 'string' || sub === '') throw new InvalidLoginToken('sub missing');
  const key = world.keys.get(sub);
  if (!key?.active) throw new InvalidLoginToken('unknown or inactive key');
  if (jwt.header.kid !== undefined && jwt.header.kid !== sub)
    throw new InvalidLoginToken('kid differs from sub');
  const publicKey = world.publicKey(sub);
  if (!publicKey || !verifyRs256(jwt, publicKey)) throw new InvalidLoginToken('signature does not verify');
  const nowS = Math.floor(world.clock.now() / 1000);
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new InvalidLoginToken('iat missing');
  if (iat > nowS + IAT_FUTURE_S) throw new InvalidLoginToken('iat in the future');
  if (iat < nowS - IAT_MAX_AGE_S) throw new InvalidLoginToken('iat too old');
  if (exp !== undefined && (typeof exp !== 'number' || exp <= nowS)) throw new InvalidLoginToken('expired');
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw new InvalidLoginToken('jti missing');
  const account = world.accounts.get(key.userCode);
  if (!account) throw new InvalidLoginToken('unknown account');
  if (!account.projects.includes(projectCode)) throw new ProjectNotAllowed();
  // Checked last so a request refused for another reason does not burn its jti.
  if (!world.rememberJti(`${sub}:${jti}`, JTI_WINDOW_MS)) throw new InvalidLoginToken('jti replayed');

  const now = world.clock.now();
  if (ctx.switches.secondLoginEndsFirst) world.endSessions(key.keyId, now);
  const session: GatewaySession = {
    id: world.secret(),
    refreshId: world.secret(),
    userCode: account.userCode,
    keyId: key.keyId,
    projectCode,
    createdAt: now,
    expiresAt: now + SESSION_TTL_MS,
  };
  world.addSession(session);
  const maxAge = SESSION_TTL_MS / 1000;
  const flags = { maxAge, httpOnly: true, secure: req.secure, path: '/' };
  // As json(200, {}, …) would make it, without serializing `{}` every time.
  return {
    status: 200,
    headers: {
      'content-type': 'application/json',
      'set-cookie': [
        serializeCookie('_npsid', session.id, flags),
        serializeCookie('_nprtnetid', session.refreshId, flags),
      ],
    },
    body: '{}',
    project: projectCode,
  };
}
