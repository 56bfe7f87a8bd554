// The API User Service (NC34, NC35): create, list and remove keys of a service account named by `user_code`
// (preferred) or `channel_identifier`. The paths are not public yet, so they are options with our defaults.
// Creating a key returns its private key once, so create is split like the exchange: raw body first.

import {
  errorForResponse,
  invalid,
  isRecord,
  parseJsonObject,
  type ResponseContext,
  readResponseText,
  requireBoolean,
  requireString,
  responseMeta,
} from './checks.js';
import { responseOf } from './client.js';
import {
  checkKeyFile,
  type KeyCheck,
  type KeyFile,
  keySignsAndVerifies,
  NoonCredentials,
  withFirstSignCheck,
} from './credentials.js';
import { ENDPOINTS } from './endpoints.js';
import { NoonTypeError } from './errors.js';
import type { CallOptions } from './oauth.js';
import { checkPath, kAuthed, NoonSession } from './session.js';

/** The API User Service paths under the gateway, one per call; {@link DEFAULT_API_USER_PATHS} by default. */
export interface ApiUserPaths {
  create: string;
  list: string;
  remove: string;
}

/** NC35: ours until Noon confirms them. */
export const DEFAULT_API_USER_PATHS: Readonly<ApiUserPaths> = Object.freeze({
  create: '/identity/v1/api_users/credentials/create',
  list: '/identity/v1/api_users/credentials/list',
  remove: '/identity/v1/api_users/credentials/remove',
});

/** A service account by `userCode` or `channelIdentifier`; Noon prefers `userCode` when both are given (NC34). */
export type AccountRef =
  | { userCode: string; channelIdentifier?: string }
  | { userCode?: string; channelIdentifier: string };

/** One key of a service account as the API User Service lists it: metadata only, never the key. */
export interface CredentialInfo {
  keyId: string;
  issuedAt: string;
  active: boolean;
}

/** A key the API User Service created: the key file (returned once; store it) and the credentials it makes. */
export interface CreatedCredential {
  keyFile: KeyFile;
  credentials: NoonCredentials;
}

function accountBody(ref: AccountRef): Record<string, string> {
  if (!ref || typeof ref !== 'object')
    throw new NoonTypeError('INVALID_ARGUMENT', 'name the service account by userCode or channelIdentifier');
  const out: Record<string, string> = {};
  for (const [k, wire] of [
    ['userCode', 'user_code'],
    ['channelIdentifier', 'channel_identifier'],
  ] as const) {
    const v = (ref as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '')
      throw new NoonTypeError('INVALID_ARGUMENT', `${k} must be a non-empty string`);
    out[wire] = v;
  }
  if (Object.keys(out).length === 0)
    throw new NoonTypeError('INVALID_ARGUMENT', 'name the service account by userCode or channelIdentifier');
  return out;
}

/** Key management for the service accounts of the session's project (NC36). */
export class NoonApiUsers {
  readonly session: NoonSession;
  readonly paths: Readonly<ApiUserPaths>;

  constructor(options: { session: NoonSession; paths?: Partial<ApiUserPaths> }) {
    if (!options || !(options.session instanceof NoonSession))
      throw new NoonTypeError('INVALID_ARGUMENT', 'NoonApiUsers needs the integrator session');
    this.session = options.session;
    const paths = { ...DEFAULT_API_USER_PATHS, ...(options.paths ?? {}) };
    for (const k of ['create', 'list', 'remove'] as const) checkPath(paths[k], `paths.${k}`);
    this.paths = Object.freeze(paths);
  }

  /**
   * Request step of credentials/create: returns the raw body to store before checking it (the private key is
   * returned once). Never resent on an unknown outcome: a second send could create a second key.
   */
  async createCredentialRequest(
    ref: AccountRef,
    options: CallOptions = {},
  ): Promise<{ response: Response; rawBody: string }> {
    const sent = await this.session[kAuthed]({
      endpoint: ENDPOINTS.apiUsersCreate,
      method: 'POST',
      path: this.paths.create,
      body: JSON.stringify(accountBody(ref)),
      repeatable: false,
      signal: options.signal,
    });
    return { response: responseOf(sent), rawBody: sent.body.toString('utf8') };
  }

  async createCredential(ref: AccountRef, options: CallOptions = {}): Promise<CreatedCredential> {
    const { response, rawBody } = await this.createCredentialRequest(ref, options);
    return processCreateCredentialBody(rawBody, response.status, responseMeta(response));
  }

  /** The account's keys, metadata only (never private keys). Safe to resend. */
  async listCredentials(ref: AccountRef, options: CallOptions = {}): Promise<CredentialInfo[]> {
    const sent = await this.session[kAuthed]({
      endpoint: ENDPOINTS.apiUsersList,
      method: 'POST',
      path: this.paths.list,
      body: JSON.stringify(accountBody(ref)),
      repeatable: true,
      signal: options.signal,
    });
    return listFrom(sent.body.toString('utf8'), sent.status, sent.requestId, sent.retryAfter);
  }

  /** Deactivates one key of the account. */
  async removeCredential(ref: AccountRef & { keyId: string }, options: CallOptions = {}): Promise<void> {
    const body = accountBody(ref);
    if (typeof ref.keyId !== 'string' || ref.keyId === '')
      throw new NoonTypeError('INVALID_ARGUMENT', 'keyId must be a non-empty string');
    const sent = await this.session[kAuthed]({
      endpoint: ENDPOINTS.apiUsersRemove,
      method: 'POST',
      path: this.paths.remove,
      body: JSON.stringify({ ...body, key_id: ref.keyId }),
      repeatable: false,
      signal: options.signal,
    });
    removeFrom(sent.body.toString('utf8'), sent.status, sent.requestId, sent.retryAfter);
  }
}

/** Process step of credentials/create on the stored raw body: a key file (§2), checked field by field. */
export function processCreateCredentialBody(
  rawBody: string,
  status: number,
  options: {
    requestId?: string | undefined;
    retryAfter?: number | undefined;
    keyCheck?: KeyCheck | undefined;
  } = {},
): CreatedCredential {
  const ctx: ResponseContext = { endpoint: ENDPOINTS.apiUsersCreate, status, requestId: options.requestId };
  if (status < 200 || status >= 300)
    throw errorForResponse(ENDPOINTS.apiUsersCreate, status, rawBody, options.requestId, options.retryAfter);
  const o = parseJsonObject(rawBody, ctx);
  const { file, key } = checkKeyFile(o, (field, problem) => invalid(ctx, field || undefined, problem));
  const keyFails = () => invalid(ctx, 'private_key', 'does not sign and verify');
  if (options.keyCheck === 'first-sign')
    return { keyFile: file, credentials: withFirstSignCheck(file, key, keyFails) };
  if (!keySignsAndVerifies(key)) throw keyFails();
  return { keyFile: file, credentials: new NoonCredentials(file, key) };
}

function listFrom(
  text: string,
  status: number,
  requestId: string | undefined,
  retryAfter: number | undefined,
): CredentialInfo[] {
  const ctx: ResponseContext = { endpoint: ENDPOINTS.apiUsersList, status, requestId };
  if (status < 200 || status >= 300)
    throw errorForResponse(ENDPOINTS.apiUsersList, status, text, requestId, retryAfter);
  const o = parseJsonObject(text, ctx);
  const list = o.credentials;
  if (!Array.isArray(list))
    throw invalid(ctx, 'credentials', list === undefined ? 'is missing' : 'is not an array');
  return list.map((c, i) => {
    const path = `credentials[${i}]`;
    if (!isRecord(c)) throw invalid(ctx, path, 'is not an object');
    return {
      keyId: requireString(c, 'key_id', ctx, `${path}.key_id`),
      issuedAt: requireString(c, 'issued_at', ctx, `${path}.issued_at`),
      active: requireBoolean(c, 'active', ctx, `${path}.active`),
    };
  });
}

function removeFrom(
  text: string,
  status: number,
  requestId: string | undefined,
  retryAfter: number | undefined,
): void {
  if (status < 200 || status >= 300)
    throw errorForResponse(ENDPOINTS.apiUsersRemove, status, text, requestId, retryAfter);
  // NC35: `{}`. An empty body is tolerated; anything else must at least be a JSON object.
  if (text.trim() !== '') parseJsonObject(text, { endpoint: ENDPOINTS.apiUsersRemove, status, requestId });
}

/** Process step of credentials/list on a Response. */
export async function processListCredentialsResponse(response: Response): Promise<CredentialInfo[]> {
  const text = await readResponseText(response, ENDPOINTS.apiUsersList);
  const { requestId, retryAfter } = responseMeta(response);
  return listFrom(text, response.status, requestId, retryAfter);
}

/** Process step of credentials/remove on a Response. */
export async function processRemoveCredentialResponse(response: Response): Promise<void> {
  const text = await readResponseText(response, ENDPOINTS.apiUsersRemove);
  const { requestId, retryAfter } = responseMeta(response);
  removeFrom(text, response.status, requestId, retryAfter);
}
