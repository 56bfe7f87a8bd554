// The REST API's token and audit routes: list, create (the token is in the 201 answer, once) and revoke API
// tokens, which needs an all-tenants token; read the audit log (a scoped token reads its own tenant's records).

import { auditJson } from '../audit.js';
import type { ServiceContext } from '../service.js';
import { PREFIX_SHAPE, TokenInputError } from '../tokens.js';
import type { ApiAction } from './actions.js';
import { noteAudit } from './audit-note.js';
import {
  ApiError,
  checkConnectionId,
  checkTenant,
  jsonResponse,
  objectBody,
  queryParams,
  readJson,
} from './http.js';
import { requireAllTenants, restriction } from './security.js';

export function tokenActions(
  ctx: ServiceContext,
): Record<'tokens-list' | 'tokens-create' | 'tokens-revoke' | 'audit', ApiAction> {
  return {
    async 'tokens-list'(request, url) {
      requireAllTenants(request);
      const params = queryParams(url, ['tenant']);
      const tenant = params.get('tenant');
      const tokens = await ctx.tokens.list(
        tenant === undefined ? {} : { tenant: checkTenant(tenant, 'the tenant query parameter') },
      );
      return jsonResponse(200, { tokens });
    },

    async 'tokens-create'(request, url) {
      const p = requireAllTenants(request);
      queryParams(url, []);
      const body = objectBody(await readJson(request), ['name', 'tenant', 'expires_in_days'], 'the body');
      if (typeof body.name !== 'string')
        throw new ApiError(400, 'INVALID_REQUEST', 'name is required (a string)');
      const tenant =
        body.tenant === undefined || body.tenant === null ? null : checkTenant(body.tenant, 'tenant');
      const days = body.expires_in_days;
      if (days !== undefined && typeof days !== 'number')
        throw new ApiError(400, 'INVALID_REQUEST', 'expires_in_days must be an integer');
      try {
        const created = await ctx.tokens.create({
          name: body.name,
          tenant,
          expiresInDays: days as number | undefined,
          createdBy: p.actor,
        });
        noteAudit(request, { tenant, detail: `token ${created.view.prefix}` });
        return jsonResponse(201, { token: created.token, ...created.view });
      } catch (e) {
        if (e instanceof TokenInputError) throw new ApiError(400, 'INVALID_REQUEST', e.message);
        throw e;
      }
    },

    async 'tokens-revoke'(request, url, prefix) {
      requireAllTenants(request);
      queryParams(url, []);
      const outcome = await ctx.tokens.revoke(prefix);
      // Only a well-formed prefix is recorded: a caller could paste a whole token into the path.
      noteAudit(request, { detail: PREFIX_SHAPE.test(prefix) ? `token ${prefix}` : 'token (not a prefix)' });
      if (outcome === 'unknown') throw new ApiError(404, 'TOKEN_NOT_FOUND', 'no such token');
      return jsonResponse(200, (await ctx.tokens.get(prefix))!);
    },

    async audit(request, url) {
      const params = queryParams(url, ['tenant', 'connection_id', 'limit']);
      const scoped = restriction(request);
      const asked = params.get('tenant');
      const tenant =
        scoped ?? (asked === undefined ? undefined : checkTenant(asked, 'the tenant query parameter'));
      if (scoped !== undefined && asked !== undefined && asked !== scoped)
        throw new ApiError(403, 'TENANT_MISMATCH', 'the tenant named differs from the token’s tenant');
      const cid = params.get('connection_id');
      const limitRaw = params.get('limit');
      const limit = limitRaw === undefined ? 100 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new ApiError(400, 'INVALID_REQUEST', 'limit must be an integer from 1 to 1000');
      const rows = await ctx.store.listAudit({
        limit,
        ...(tenant !== undefined ? { tenant } : {}),
        ...(cid !== undefined ? { connectionId: checkConnectionId(cid) } : {}),
      });
      return jsonResponse(200, { entries: rows.map(auditJson) });
    },
  };
}
