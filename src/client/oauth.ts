// The OAuth flow (contract §4): the consent URL, code → access token (token/create) and access token → seller
// credential (token/exchange). Each network call is a request step and a process step, so a caller can store the
// exchange's raw body durably before anything can fail, and so response handling is tested on hand-made bodies.

import {
  DEFAULT_MAX_BODY_BYTES,
  errorForResponse,
  invalid,
  optionalString,
  parseDurationSeconds,
  parseJsonObject,
  type ResponseContext,
  readResponseText,
  requireObject,
  requireString,
  requireStringArray,
  responseMeta,
} from './checks.js';
import { checkedStatus, responseOf, type Sent } from './client.js';
import {
  checkKeyFile,
  type KeyCheck,
  type KeyFile,
  keySignsAndVerifies,
  NoonCredentials,
  withFirstSignCheck,
} from './credentials.js';
import { ENDPOINTS } from './endpoints.js';
import { NoonError, NoonExchangeError, NoonTypeError } from './errors.js';
import { kAuthed, NoonSession } from './session.js';

/** Path of OAuth token/create under the gateway (NC23). */
export const TOKEN_CREATE_PATH = '/identity/oauth/v1/token/create';
/** Path of OAuth token/exchange under the gateway (NC29). */
export const TOKEN_EXCHANGE_PATH = '/identity/oauth/v1/token/exchange';

/** NC18: Noon's consent page refuses a longer state. */
const MAX_STATE_LENGTH = 512;

/** token/create's answer (NC23, NC24). */
export interface TokenResult {
  /** Single-use, valid one hour (NC25). A secret: store it encrypted, never log it. */
  accessToken: string;
  tokenType: 'TOKEN_TYPE_BEARER';
  scopes: string[];
  /** Seconds, from `"3600s"` or a number. */
  expiresIn: number;
  /** The seller's project. */
  projectCode: string;
}

/** token/exchange's answer on success (NC29, NC31). */
export interface ExchangeResult {
  statusCode: 0;
  statusMessage: string | undefined;
  /** Identifies the request in the Access App's OAuth tab; keep it (NC31). */
  oauthRequestId: string;
  /** The seller's project. */
  projectCode: string;
  /** The new key file; its private key is returned once only (NC31). */
  keyFile: KeyFile;
  /** The same key file, loaded and ready for a seller session. */
  credentials: NoonCredentials;
}

/** What the process step of token/exchange checks the answer against. */
export interface ExchangeCheckOptions {
  /** token/create's `project_code`: the exchange must name the same project. */
  expectedProjectCode?: string | undefined;
  /** The response's `X-Request-Id`, kept on errors. */
  requestId?: string | undefined;
  /** The response's Retry-After in seconds, kept on a RATE_LIMITED error. */
  retryAfter?: number | undefined;
  /**
   * When the new key's sign-and-verify check runs: `'now'` (default) signs a probe; `'first-sign'` verifies the
   * returned credentials' first signature instead (e.g. the login that checks the key), which then throws this
   * RESPONSE_INVALID (`result.private_key`) if the key does not sign and verify.
   */
  keyCheck?: KeyCheck | undefined;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call; an abort after the request was sent leaves its outcome unknown. */
  signal?: AbortSignal;
}

/** Options of {@link NoonOAuth}. */
export interface NoonOAuthOptions {
  /** The integrator's own session: it authenticates token/create and token/exchange (NC14, NC30). */
  session: NoonSession;
  clientId: string;
  clientSecret: string;
}

function nonEmpty(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '')
    throw new NoonTypeError('INVALID_ARGUMENT', `${name} must be a non-empty string`);
  return v;
}

/** The OAuth calls of one client (application), made over the integrator's session. */
export class NoonOAuth {
  readonly session: NoonSession;
  readonly clientId: string;
  readonly #clientSecret: string;

  constructor(options: NoonOAuthOptions) {
    if (!options || !(options.session instanceof NoonSession))
      throw new NoonTypeError('INVALID_ARGUMENT', 'NoonOAuth needs the integrator session');
    this.session = options.session;
    this.clientId = nonEmpty(options.clientId, 'clientId');
    this.#clientSecret = nonEmpty(options.clientSecret, 'clientSecret');
  }

  /**
   * The consent page URL (NC16): `<authorizeUrl>?client_id=…&state=…`. `redirectUri` is not part of Noon's
   * documented URL; pass it only to pick among several registered URIs (NC15).
   */
  authorizationUrl(params: { state: string; redirectUri?: string }): string {
    const env = this.session.client.environment;
    if (env.authorizeUrl === undefined)
      throw new NoonError('NOT_SUPPORTED', `the ${env.name} environment has no consent page (NC2)`);
    const state = nonEmpty(params?.state, 'state');
    if (state.length > MAX_STATE_LENGTH)
      throw new NoonTypeError('INVALID_ARGUMENT', `state must be at most ${MAX_STATE_LENGTH} characters`);
    const url = new URL(env.authorizeUrl);
    url.searchParams.set('client_id', this.clientId);
    url.searchParams.set('state', state);
    if (params.redirectUri !== undefined)
      url.searchParams.set('redirect_uri', nonEmpty(params.redirectUri, 'redirectUri'));
    return url.href;
  }

  #requireOAuth(endpoint: string): void {
    const env = this.session.client.environment;
    // NC2: Noon's static sandbox has no backend; an exchange there can never complete, so nothing is sent.
    if (!env.oauth)
      throw new NoonError(
        'NOT_SUPPORTED',
        `${endpoint} is not available in the ${env.name} environment (NC2)`,
        {
          endpoint,
        },
      );
  }

  /**
   * Request step of token/create (NC23). Never resent on an unknown outcome: a code is single-use, so a timeout
   * after sending surfaces as OUTCOME_UNKNOWN for the caller to decide. A session 401 is retried once after a
   * re-login (a failed check consumes nothing, NC27); 429/503 with Retry-After are waited out.
   */
  async createTokenRequest(code: string, options: CallOptions = {}): Promise<Response> {
    return responseOf(await this.#sendCreateToken(code, options));
  }

  async #sendCreateToken(code: string, options: CallOptions): Promise<Sent> {
    this.#requireOAuth(ENDPOINTS.tokenCreate);
    nonEmpty(code, 'code');
    const body = JSON.stringify({
      grant_type: 'authorization_code',
      code,
      client_id: this.clientId,
      client_secret: this.#clientSecret,
    });
    return this.session[kAuthed]({
      endpoint: ENDPOINTS.tokenCreate,
      method: 'POST',
      path: TOKEN_CREATE_PATH,
      body,
      repeatable: false,
      signal: options.signal,
    });
  }

  /** token/create, both steps (the answer is checked as it came off the wire, with no Response built). */
  async createToken(code: string, options: CallOptions = {}): Promise<TokenResult> {
    const sent = await this.#sendCreateToken(code, options);
    if (sent.status < 200 || sent.status > 599 || sent.body.length > DEFAULT_MAX_BODY_BYTES)
      return processCreateTokenResponse(responseOf(sent));
    return createTokenResult(sent.body.toString('utf8'), sent.status, sent.requestId, sent.retryAfter);
  }

  /**
   * Request step of token/exchange (NC29). Returns the raw body so the caller can store it durably before any
   * check runs: the private key in it is returned once only. Never resent on an unknown outcome.
   */
  async exchangeTokenRequest(
    accessToken: string,
    options: CallOptions = {},
  ): Promise<{ response: Response; rawBody: string }> {
    const sent = await this.#sendExchange(accessToken, options);
    return { response: responseOf(sent), rawBody: sent.body.toString('utf8') };
  }

  /**
   * The request step of token/exchange as plain values: the HTTP status, the raw body and Noon's request id,
   * without building a Web Response (what a caller that stores the raw body first needs, for less).
   */
  async exchangeTokenAnswer(
    accessToken: string,
    options: CallOptions = {},
  ): Promise<{ status: number; rawBody: string; requestId: string | undefined }> {
    const sent = await this.#sendExchange(accessToken, options);
    return { status: checkedStatus(sent), rawBody: sent.body.toString('utf8'), requestId: sent.requestId };
  }

  #sendExchange(accessToken: string, options: CallOptions): Promise<Sent> {
    this.#requireOAuth(ENDPOINTS.tokenExchange);
    nonEmpty(accessToken, 'accessToken');
    return this.session[kAuthed]({
      endpoint: ENDPOINTS.tokenExchange,
      method: 'POST',
      path: TOKEN_EXCHANGE_PATH,
      body: JSON.stringify({ access_token: accessToken }),
      repeatable: false,
      signal: options.signal,
    });
  }

  /** token/exchange, both steps (use the two steps when the raw body must be stored first). */
  async exchangeToken(
    accessToken: string,
    options: CallOptions & { expectedProjectCode?: string } = {},
  ): Promise<ExchangeResult> {
    const { response, rawBody } = await this.exchangeTokenRequest(accessToken, options);
    return processExchangeBody(rawBody, response.status, {
      expectedProjectCode: options.expectedProjectCode,
      ...responseMeta(response),
    });
  }
}

/** Process step of token/create: every documented field checked by name, extra fields ignored (NC23, NC24). */
export async function processCreateTokenResponse(response: Response): Promise<TokenResult> {
  const text = await readResponseText(response, ENDPOINTS.tokenCreate);
  const { requestId, retryAfter } = responseMeta(response);
  return createTokenResult(text, response.status, requestId, retryAfter);
}

function createTokenResult(
  text: string,
  status: number,
  requestId: string | undefined,
  retryAfter: number | undefined,
): TokenResult {
  const ctx: ResponseContext = { endpoint: ENDPOINTS.tokenCreate, status, requestId };
  if (status < 200 || status >= 300)
    throw errorForResponse(ENDPOINTS.tokenCreate, status, text, requestId, retryAfter);
  const o = parseJsonObject(text, ctx);
  const accessToken = requireString(o, 'access_token', ctx);
  const tokenType = requireString(o, 'token_type', ctx);
  if (tokenType !== 'TOKEN_TYPE_BEARER') throw invalid(ctx, 'token_type', 'is not TOKEN_TYPE_BEARER');
  return {
    accessToken,
    tokenType: 'TOKEN_TYPE_BEARER',
    scopes: requireStringArray(o, 'scopes', ctx),
    expiresIn: parseDurationSeconds(o.expires_in, ctx, 'expires_in'),
    projectCode: requireString(o, 'project_code', ctx),
  };
}

/** Process step of token/exchange on a Response. */
export async function processExchangeResponse(
  response: Response,
  options: Pick<ExchangeCheckOptions, 'expectedProjectCode'> = {},
): Promise<ExchangeResult> {
  const rawBody = await readResponseText(response, ENDPOINTS.tokenExchange);
  return processExchangeBody(rawBody, response.status, { ...options, ...responseMeta(response) });
}

/**
 * Process step of token/exchange on the stored raw body (NC29, NC31): `status.code` 0 or a typed
 * EXCHANGE_FAILED carrying `oauth_request_id`; every `result` field checked; the key must load as RSA and sign;
 * `result.project_code`, `project_code` and token/create's project must agree.
 */
export function processExchangeBody(
  rawBody: string,
  status: number,
  options: ExchangeCheckOptions = {},
): ExchangeResult {
  if (typeof rawBody !== 'string') throw new NoonTypeError('INVALID_ARGUMENT', 'rawBody must be a string');
  if (!Number.isInteger(status)) throw new NoonTypeError('INVALID_ARGUMENT', 'status must be an HTTP status');
  const requestId = options.requestId;
  const ctx: ResponseContext = { endpoint: ENDPOINTS.tokenExchange, status, requestId };
  if (status < 200 || status >= 300)
    throw errorForResponse(ENDPOINTS.tokenExchange, status, rawBody, requestId, options.retryAfter);
  const o = parseJsonObject(rawBody, ctx);
  const st = requireObject(o, 'status', ctx);
  const code = st.code;
  if (typeof code !== 'number' || !Number.isInteger(code))
    throw invalid(ctx, 'status.code', code === undefined ? 'is missing' : 'is not an integer');
  const statusMessage = optionalString(st, 'message', ctx, 'status.message');
  if (code !== 0) {
    // NC29: the workflow failed and nothing usable was created. A result beside a failure is not that case:
    // a key may exist, so it is reported as invalid for an operator to look at.
    if (o.result !== undefined && o.result !== null)
      throw invalid(ctx, 'result', 'is present although status.code is not 0');
    const rid = o.oauth_request_id;
    throw new NoonExchangeError(
      code,
      statusMessage,
      typeof rid === 'string' && rid !== '' ? rid : undefined,
      {
        status,
        requestId,
        endpoint: ENDPOINTS.tokenExchange,
      },
    );
  }
  const oauthRequestId = requireString(o, 'oauth_request_id', ctx);
  const projectCode = requireString(o, 'project_code', ctx);
  const result = requireObject(o, 'result', ctx);
  const { file, key } = checkKeyFile(result, (field, problem) =>
    invalid(ctx, field ? `result.${field}` : 'result', problem),
  );
  const keyFails = () => invalid(ctx, 'result.private_key', 'does not sign and verify');
  const deferred = options.keyCheck === 'first-sign';
  if (!deferred && !keySignsAndVerifies(key)) throw keyFails();
  if (file.project_code !== projectCode)
    throw mismatch(ctx, 'result.project_code', 'differs from project_code');
  const expected = options.expectedProjectCode;
  if (expected !== undefined && projectCode !== expected)
    throw mismatch(ctx, 'project_code', "differs from token/create's project_code");
  return {
    statusCode: 0,
    statusMessage,
    oauthRequestId,
    projectCode,
    keyFile: file,
    credentials: deferred ? withFirstSignCheck(file, key, keyFails) : new NoonCredentials(file, key),
  };
}

function mismatch(ctx: ResponseContext, field: string, problem: string): NoonError {
  return new NoonError('PROJECT_MISMATCH', `${ctx.endpoint} response: ${field} ${problem}`, {
    status: ctx.status,
    requestId: ctx.requestId,
    endpoint: ctx.endpoint,
    field,
  });
}
