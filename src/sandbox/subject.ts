// What a gateway request is about, read before its endpoint runs: the seller project its code, access token or
// session belongs to, and the key it logs in or acts with. The journal records it and faults can be scoped to one
// seller project by it, so several runs can share one sandbox. Holds identifiers only, never a secret.

import type { EndpointName } from './faults.js';
import { jsonBody, type SandboxRequest } from './http.js';
import { decodeJwt } from './jwt.js';
import { sha256Hex, type World } from './world.js';

export interface RequestSubject {
  sellerProject?: string;
  keyId?: string;
  /** Makes the presented code (token/create) or access token (token/exchange) expire now: the `expire` fault. */
  expire?: () => void;
}

function bodyField(req: SandboxRequest, name: string): string | undefined {
  if (req.body.length === 0 || req.body.length > 65_536) return undefined;
  // Parsed once per request: the endpoint reads the same parse (see jsonBody).
  const v = jsonBody(req)?.value;
  const f =
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[name] : undefined;
  return typeof f === 'string' && f !== '' ? f : undefined;
}

/** The seller project an account serves, when an exchange made it. */
function keySubject(world: World, keyId: string): RequestSubject {
  const key = world.keys.get(keyId);
  if (!key) return {};
  const project = world.accounts.get(key.userCode)?.sellerProject;
  return project !== undefined ? { keyId, sellerProject: project } : { keyId };
}

export function requestSubject(
  endpoint: EndpointName | string,
  req: SandboxRequest,
  world: World,
): RequestSubject {
  switch (endpoint) {
    case 'token.create': {
      const code = bodyField(req, 'code');
      const hash = code === undefined ? undefined : sha256Hex(code);
      const rec = hash === undefined ? undefined : world.codes.get(hash);
      if (!rec || hash === undefined) return {};
      return {
        sellerProject: rec.sellerProject,
        expire: () => {
          const cur = world.codes.get(hash);
          if (cur) world.codes.put(hash, { ...cur, expiresAt: Math.min(cur.expiresAt, world.clock.now()) });
        },
      };
    }
    case 'token.exchange': {
      const token = bodyField(req, 'access_token');
      const jti = token === undefined ? undefined : decodeJwt(token)?.payload.jti;
      const rec = typeof jti === 'string' ? world.tokens.get(jti) : undefined;
      if (!rec) return {};
      return {
        sellerProject: rec.sellerProject,
        expire: () => {
          const cur = world.tokens.get(rec.jti);
          if (cur)
            world.tokens.put(rec.jti, { ...cur, expiresAt: Math.min(cur.expiresAt, world.clock.now()) });
        },
      };
    }
    case 'login': {
      const token = bodyField(req, 'token');
      const sub = token === undefined ? undefined : decodeJwt(token)?.payload.sub;
      return typeof sub === 'string' ? keySubject(world, sub) : {};
    }
    default: {
      const sid = req.cookies.get('_npsid');
      const session = sid ? world.sessions.get(sid) : undefined;
      return session ? keySubject(world, session.keyId) : {};
    }
  }
}
