// GET /identity/v1/whoami: who the session belongs to (NC12).

import { type Context, requireSession } from '../context.js';
import { json, type SandboxRequest, type SandboxResponse } from '../http.js';

export function whoami(req: SandboxRequest, ctx: Context): SandboxResponse {
  const s = requireSession(req, ctx);
  const account = ctx.world.accounts.get(s.userCode);
  const res = json(200, {
    user_code: s.userCode,
    channel_identifier: account?.channelIdentifier ?? '',
    key_id: s.keyId,
    project_code: s.projectCode,
    projects: account?.projects ?? [],
  });
  res.project = s.projectCode;
  return res;
}
