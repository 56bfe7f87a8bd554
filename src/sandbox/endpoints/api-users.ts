// The API User Service: create, list and remove keys of a service account named by user_code or
// channel_identifier (NC34–NC36). Paths are ours until Noon confirms them; they are switches.

import { type Context, requireSession } from '../context.js';
import {
  AccountNotFound,
  InvalidArgument,
  KeyLimit,
  KeyNotFound,
  PermissionDenied,
  Unimplemented,
} from '../errors.js';
import {
  json,
  optionalString,
  readJsonObject,
  requiredString,
  type SandboxRequest,
  type SandboxResponse,
} from '../http.js';
import { MAX_KEYS_PER_ACCOUNT, type ServiceAccount } from '../model.js';
import { NO_STORE, withNoStore } from './token-create.js';

function managedAccount(
  req: SandboxRequest,
  ctx: Context,
): { account: ServiceAccount; body: Record<string, unknown>; project: string } {
  const session = requireSession(req, ctx);
  const body = readJsonObject(req, ctx.switches.requireJsonContentType);
  const userCode = optionalString(body, 'user_code', 256) || undefined;
  const channelIdentifier = optionalString(body, 'channel_identifier', 512) || undefined;
  // A request that names no account is malformed (400), not a lookup that found nothing (404).
  if (userCode === undefined && channelIdentifier === undefined) {
    throw new InvalidArgument('user_code or channel_identifier is required');
  }
  const account = ctx.world.account({ userCode, channelIdentifier });
  if (!account) throw new AccountNotFound();
  // NC36: a session manages the service accounts of its own project only.
  if (account.ownerProject !== session.projectCode)
    throw new PermissionDenied('the account belongs to another project');
  return { account, body, project: session.projectCode };
}

// Every answer of the service is no-store: a create carries a private key, and refusals follow suit (NC28 spirit).
export function createCredential(req: SandboxRequest, ctx: Context): Promise<SandboxResponse> {
  return withNoStore(() => create(req, ctx));
}

export function listCredentials(req: SandboxRequest, ctx: Context): SandboxResponse {
  return withNoStore(() => list(req, ctx));
}

export function removeCredential(req: SandboxRequest, ctx: Context): SandboxResponse {
  return withNoStore(() => remove(req, ctx));
}

async function create(req: SandboxRequest, ctx: Context): Promise<SandboxResponse> {
  const { account, project } = managedAccount(req, ctx);
  const { world } = ctx;
  if (world.activeKeys(account.userCode).length >= MAX_KEYS_PER_ACCOUNT) throw new KeyLimit();
  const pair = await world.pool.take();
  const issued = world.addKey(
    account,
    pair,
    'api_users.create',
    account.sellerProject ? { sellerProject: account.sellerProject } : {},
  );
  if (!issued) throw new KeyLimit();
  const res = json(200, issued.file, { ...NO_STORE });
  res.project = project;
  res.onDelivered = () => world.markDelivered(issued.ledger.seq);
  return res;
}

function list(req: SandboxRequest, ctx: Context): SandboxResponse {
  if (!ctx.switches.keyListing) throw new Unimplemented('credentials/list is not available');
  const { account, project } = managedAccount(req, ctx);
  const credentials = ctx.world.accountKeys(account.userCode).map((k) => ({
    key_id: k.keyId,
    issued_at: new Date(k.issuedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    active: k.active,
  }));
  const res = json(200, { credentials }, { ...NO_STORE });
  res.project = project;
  return res;
}

function remove(req: SandboxRequest, ctx: Context): SandboxResponse {
  const { account, body, project } = managedAccount(req, ctx);
  const keyId = requiredString(body, 'key_id', 256);
  const key = ctx.world.keys.get(keyId);
  if (!key || key.userCode !== account.userCode) throw new KeyNotFound();
  if (key.active) ctx.world.deactivateKey(key, ctx.switches.deactivateEndsSessions);
  const res = json(200, {}, { ...NO_STORE });
  res.project = project;
  return res;
}
