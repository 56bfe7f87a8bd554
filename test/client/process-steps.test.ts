// Process steps on hand-made responses: the malformed-response matrix (U2), exchange results that must not be
// trusted (U9, U9b), error mapping by status and reason (NC37), key files (NC3) and construction checks (NC7).

import { createPrivateKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type KeyFile,
  loadCredentials,
  NoonClient,
  NoonError,
  NoonExchangeError,
  NoonOAuth,
  NoonSession,
  type NoonTypeError,
  parseCredentials,
  processCreateTokenResponse,
  processExchangeBody,
  processExchangeResponse,
  processListCredentialsResponse,
  processWhoamiResponse,
} from '../../src/client/index.js';
import { caught, jsonResponse, recordingFetch } from './helpers.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PKCS1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const PKCS8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EC_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const SMALL_RSA = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ type: 'pkcs1', format: 'pem' })
  .toString();
/** A line from the middle of the PEM: must never show up in an error. */
const PEM_LINE = PKCS1.split('\n')[5]!;

const keyFile = (over: Partial<Record<keyof KeyFile, unknown>> = {}): Record<string, unknown> => ({
  key_id: 'k-123',
  private_key: PKCS1,
  channel_identifier: 'svc@p20001.idp.noon.partners',
  project_code: 'PRJ20001',
  type: 'apijwt',
  issued_at: '2026-04-20T12:00:00Z',
  ...over,
});

const TOKEN = {
  access_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJQUkoyMDAwMSJ9.c2ln',
  token_type: 'TOKEN_TYPE_BEARER',
  expires_in: '3600s',
  scopes: ['access:grant'],
  project_code: 'PRJ20001',
};

const exchangeBody = (over: Record<string, unknown> = {}, result: Record<string, unknown> = keyFile()) => ({
  status: { code: 0, message: 'OK' },
  project_code: 'PRJ20001',
  oauth_request_id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479',
  result,
  ...over,
});

/** Asserts a RESPONSE_INVALID (or another code) and that the message never quotes the body. */
async function expectInvalid(
  p: Promise<unknown> | (() => unknown),
  field?: string,
  code = 'RESPONSE_INVALID',
) {
  const err = typeof p === 'function' ? await caught(async () => p()) : await caught(() => p);
  expect(err).toBeInstanceOf(NoonError);
  expect(err.code).toBe(code);
  if (field !== undefined) expect(err.field).toBe(field);
  expect(err.message).not.toContain(PEM_LINE);
  expect(err.message).not.toContain(TOKEN.access_token);
  return err;
}

const MALFORMED: [string, string, Record<string, string>][] = [
  [
    'HTML',
    '<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>',
    { 'content-type': 'text/html' },
  ],
  ['an open brace', '{"', {}],
  ['null', 'null', {}],
  ['an empty array', '[]', {}],
  ['an empty body', '', {}],
  ['a number', '42', {}],
  ['a truncated object', '{"access_token": "eyJ', {}],
];

describe('token/create process step (U2, NC23, NC24)', () => {
  it('NC23 NC24 reads a documented answer: "3600s" becomes 3600 seconds; unknown extra fields are ignored (U2)', async () => {
    const r = await processCreateTokenResponse(
      jsonResponse(200, { ...TOKEN, refresh_token: 'x', extra: { nested: true } }),
    );
    expect(r).toEqual({
      accessToken: TOKEN.access_token,
      tokenType: 'TOKEN_TYPE_BEARER',
      scopes: ['access:grant'],
      expiresIn: 3600,
      projectCode: 'PRJ20001',
    });
  });

  it.each(MALFORMED)('U2 a 200 with %s body is RESPONSE_INVALID, not a token', async (_n, body, headers) => {
    await expectInvalid(processCreateTokenResponse(new Response(body, { status: 200, headers })));
  });

  it.each([
    ['access_token', undefined],
    ['access_token', 42],
    ['access_token', ''],
    ['token_type', undefined],
    ['token_type', ['TOKEN_TYPE_BEARER']],
    ['token_type', 'bearer'],
    ['scopes', undefined],
    ['scopes', 'access:grant'],
    ['scopes', [1]],
    ['expires_in', undefined],
    ['expires_in', { seconds: 3600 }],
    ['project_code', undefined],
    ['project_code', 12345],
  ])('U2 token/create with %s = %j is RESPONSE_INVALID naming the field', async (field, value) => {
    const body: Record<string, unknown> = { ...TOKEN, [field]: value };
    if (value === undefined) delete body[field];
    await expectInvalid(processCreateTokenResponse(jsonResponse(200, body)), field);
  });

  it.each([
    ['3600s', 3600],
    [3600, 3600],
    ['0s', 0],
    ['1.5s', 1],
    [59.9, 59],
  ])('NC24 expires_in %j is accepted as %d seconds', async (value, seconds) => {
    const r = await processCreateTokenResponse(jsonResponse(200, { ...TOKEN, expires_in: value }));
    expect(r.expiresIn).toBe(seconds);
  });

  it.each(['3600', '1h', '-5s', 's', '3600 s', '', 'Infinitys'])(
    'NC24 U2 an odd expires_in %j is RESPONSE_INVALID',
    async (value) => {
      await expectInvalid(
        processCreateTokenResponse(jsonResponse(200, { ...TOKEN, expires_in: value })),
        'expires_in',
      );
    },
  );

  it('U2 a negative numeric expires_in is RESPONSE_INVALID', async () => {
    await expectInvalid(
      processCreateTokenResponse(jsonResponse(200, { ...TOKEN, expires_in: -1 })),
      'expires_in',
    );
  });

  it('U2 a body over 1 MB stops reading at the limit: RESPONSE_TOO_LARGE, declared or streamed', async () => {
    const big = `{"pad":"${'x'.repeat(1024 * 1024 + 10)}"}`;
    await expectInvalid(
      processCreateTokenResponse(
        new Response(big, { status: 200, headers: { 'content-length': String(big.length) } }),
      ),
      undefined,
      'RESPONSE_TOO_LARGE',
    );
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024).fill(120));
      },
    });
    await expectInvalid(
      processCreateTokenResponse(new Response(endless, { status: 200 })),
      undefined,
      'RESPONSE_TOO_LARGE',
    );
    // It stopped just past 1 MB instead of reading forever.
    expect(pulled).toBeLessThan(20);
  });
});

describe('error answers decided by status and reason (NC37, NC39)', () => {
  const errBody = (reason: string, message = 'x') => ({
    code: 3,
    message,
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'noon.partners' }],
  });

  it.each([
    [400, 'CODE_INVALID', 'CODE_INVALID'],
    [400, 'CODE_EXPIRED', 'CODE_EXPIRED'],
    [400, 'CODE_USED', 'CODE_USED'],
    [400, 'UNSUPPORTED_GRANT_TYPE', 'BAD_REQUEST'],
    [401, 'INVALID_CLIENT', 'INVALID_CLIENT'],
    [401, 'SESSION_EXPIRED', 'UNAUTHENTICATED'],
    [403, 'CLIENT_NOT_OWNED', 'CLIENT_NOT_OWNED'],
    [403, 'PROJECT_NOT_ALLOWED', 'FORBIDDEN'],
    [404, 'NOT_FOUND', 'NOT_FOUND'],
    [409, 'KEY_LIMIT', 'KEY_LIMIT'],
    [409, 'ALREADY_EXISTS', 'CONFLICT'],
    [429, 'RATE_LIMITED', 'RATE_LIMITED'],
    [500, 'INTERNAL', 'UPSTREAM'],
    [501, 'UNIMPLEMENTED', 'NOT_SUPPORTED'],
  ])('NC37 HTTP %d with reason %s is %s; X-Request-Id is kept (NC39)', async (status, reason, code) => {
    const err = await caught(() =>
      processCreateTokenResponse(jsonResponse(status, errBody(reason), { 'x-request-id': 'req-42' })),
    );
    expect(err).toBeInstanceOf(NoonError);
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.reason).toBe(reason);
    expect(err.requestId).toBe('req-42');
  });

  it('NC37 the reason decides, never the message text', async () => {
    const err = await caught(() =>
      processCreateTokenResponse(
        jsonResponse(400, errBody('CODE_USED', 'CODE_EXPIRED: the code has expired')),
      ),
    );
    expect(err.code).toBe('CODE_USED');
    const noReason = await caught(() =>
      processCreateTokenResponse(jsonResponse(400, { code: 3, message: 'CODE_USED', details: [] })),
    );
    expect(noReason.code).toBe('BAD_REQUEST');
    expect(noReason.reason).toBeUndefined();
  });

  it.each([
    ['HTML', 502, '<html><body>Bad gateway</body></html>', 'UPSTREAM'],
    ['empty', 400, '', 'BAD_REQUEST'],
    ['null', 401, 'null', 'UNAUTHENTICATED'],
    ['an array', 403, '[]', 'FORBIDDEN'],
    ['other-shaped JSON', 400, '{"error":"invalid_grant","details":"CODE_USED"}', 'BAD_REQUEST'],
    ['details of the wrong type', 400, '{"details":[42,null,{"reason":7}]}', 'BAD_REQUEST'],
  ])('NC37 an error with %s body still maps by status (%d → %s)', async (_n, status, body, code) => {
    const err = await caught(() => processCreateTokenResponse(new Response(body, { status })));
    expect(err.code).toBe(code);
  });

  it('NC38 429 carries retryAfter from Retry-After', async () => {
    const err = await caught(() =>
      processCreateTokenResponse(jsonResponse(429, errBody('RATE_LIMITED'), { 'retry-after': '7' })),
    );
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfter).toBe(7);
  });

  it('U3 a 3xx answer is a REDIRECT error', async () => {
    const err = await caught(() =>
      processCreateTokenResponse(
        new Response('', { status: 302, headers: { location: 'https://evil.example/' } }),
      ),
    );
    expect(err.code).toBe('REDIRECT');
    expect(err.message).not.toContain('evil.example');
  });
});

describe('token/exchange process step (U2, U9, U9b, NC29)', () => {
  it('NC29 reads a documented answer; the key loads and unknown extra fields are ignored', () => {
    const body = JSON.stringify(exchangeBody({ debug: { trace: 1 } }, { ...keyFile(), comment: 'extra' }));
    const r = processExchangeBody(body, 200, { expectedProjectCode: 'PRJ20001' });
    expect(r.statusCode).toBe(0);
    expect(r.statusMessage).toBe('OK');
    expect(r.oauthRequestId).toBe('f47ac10b-58cc-4372-a567-0e02b2c3d479');
    expect(r.projectCode).toBe('PRJ20001');
    expect(r.keyFile.key_id).toBe('k-123');
    expect(r.credentials.keyId).toBe('k-123');
    expect(r.credentials.privateKey.asymmetricKeyType).toBe('rsa');
    expect(r.keyFile).not.toHaveProperty('comment');
  });

  it('U9 keyCheck first-sign: no probe now; the first signature is verified, and a key that fails it throws then', async () => {
    const good = processExchangeBody(JSON.stringify(exchangeBody()), 200, { keyCheck: 'first-sign' });
    const data = Buffer.from('first login');
    expect(verify('sha256', data, rsa.publicKey, good.credentials.signRs256(data) as Buffer)).toBe(true);
    // A key that loads but signs wrongly (private exponent and one CRT factor from another key).
    const jwk = rsa.privateKey.export({ format: 'jwk' });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const broken = createPrivateKey({ key: { ...jwk, d: other.d!, dp: other.dp! }, format: 'jwk' })
      .export({ type: 'pkcs1', format: 'pem' })
      .toString();
    const body = JSON.stringify(exchangeBody({}, keyFile({ private_key: broken })));
    expect((await caught(async () => processExchangeBody(body, 200))).field).toBe('result.private_key');
    const deferred = processExchangeBody(body, 200, { keyCheck: 'first-sign' });
    const err = await caught(async () => deferred.credentials.signRs256(data));
    expect(err.code).toBe('RESPONSE_INVALID');
    expect(err.field).toBe('result.private_key');
  });

  it('NC29 status.message is optional', () => {
    const body = exchangeBody({ status: { code: 0 } });
    expect(processExchangeBody(JSON.stringify(body), 200).statusMessage).toBeUndefined();
  });

  it.each(MALFORMED)('U2 an exchange 200 with %s body is RESPONSE_INVALID', async (_n, body) => {
    await expectInvalid(() => processExchangeBody(body, 200));
  });

  it.each([
    ['status', undefined],
    ['status', 'OK'],
    ['status.code', '0'],
    ['status.code', undefined],
    ['status.code', 0.5],
    ['status.message', 7],
    ['oauth_request_id', undefined],
    ['oauth_request_id', 12],
    ['project_code', undefined],
    ['project_code', ['PRJ20001']],
    ['result', undefined],
    ['result', 'key'],
    ['result.key_id', undefined],
    ['result.key_id', 1],
    ['result.private_key', undefined],
    ['result.channel_identifier', undefined],
    ['result.project_code', undefined],
    ['result.type', undefined],
    ['result.issued_at', undefined],
    ['result.issued_at', 'yesterday'],
  ])('U2 U9 exchange with %s = %j is RESPONSE_INVALID naming the field', async (path, value) => {
    const body = exchangeBody() as Record<string, any>;
    const parts = path.split('.');
    if (parts.length === 2) body[parts[0]!] = { ...body[parts[0]!] };
    const parent = parts.length === 2 ? body[parts[0]!] : body;
    const name = parts[parts.length - 1]!;
    if (value === undefined) delete parent[name];
    else parent[name] = value;
    await expectInvalid(() => processExchangeBody(JSON.stringify(body), 200), path);
  });

  it.each([
    ['a truncated PEM', PKCS1.slice(0, Math.floor(PKCS1.length / 2))],
    ['an EC key', EC_PEM],
    ['a 1024-bit RSA key', SMALL_RSA],
    ['text that is no PEM', 'not a key'],
  ])('U9 a result whose private_key is %s is RESPONSE_INVALID', async (_n, pem) => {
    const body = JSON.stringify(exchangeBody({}, keyFile({ private_key: pem })));
    await expectInvalid(() => processExchangeBody(body, 200), 'result.private_key');
  });

  it('NC3 a PKCS#8 private key in the result is accepted as well as PKCS#1', () => {
    const body = JSON.stringify(exchangeBody({}, keyFile({ private_key: PKCS8 })));
    expect(processExchangeBody(body, 200).credentials.privateKey.asymmetricKeyType).toBe('rsa');
  });

  it("U9 a project that differs from token/create's, or between result and top level, is PROJECT_MISMATCH", async () => {
    const body = JSON.stringify(exchangeBody());
    const e1 = await expectInvalid(
      () => processExchangeBody(body, 200, { expectedProjectCode: 'PRJ20002' }),
      'project_code',
      'PROJECT_MISMATCH',
    );
    expect(e1.endpoint).toBe('token.exchange');
    const inner = JSON.stringify(exchangeBody({}, keyFile({ project_code: 'PRJ20002' })));
    await expectInvalid(() => processExchangeBody(inner, 200), 'result.project_code', 'PROJECT_MISMATCH');
  });

  it('U9b NC29 HTTP 200 with status.code ≠ 0 is EXCHANGE_FAILED carrying oauth_request_id and the status', async () => {
    const body = JSON.stringify({
      status: { code: 9, message: 'service account already has 5 keys' },
      project_code: 'PRJ20001',
      oauth_request_id: 'req-abc',
    });
    const err = await caught(async () => processExchangeBody(body, 200, { requestId: 'x-1' }));
    expect(err).toBeInstanceOf(NoonExchangeError);
    expect(err).toBeInstanceOf(NoonError);
    expect(err.code).toBe('EXCHANGE_FAILED');
    expect(err.statusCode).toBe(9);
    expect(err.statusMessage).toBe('service account already has 5 keys');
    expect(err.oauthRequestId).toBe('req-abc');
    expect(err.requestId).toBe('x-1');
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({
      code: 'EXCHANGE_FAILED',
      oauthRequestId: 'req-abc',
    });
  });

  it('U9 status.code ≠ 0 beside a result is RESPONSE_INVALID (a key may exist), not EXCHANGE_FAILED', async () => {
    const body = JSON.stringify(exchangeBody({ status: { code: 13 } }));
    await expectInvalid(() => processExchangeBody(body, 200), 'result');
  });

  it('NC32 error statuses map to TOKEN_USED / TOKEN_EXPIRED / FORBIDDEN by reason', async () => {
    const e = (reason: string) =>
      JSON.stringify({ code: 3, message: 'm', details: [{ '@type': 'x.google.rpc.ErrorInfo', reason }] });
    expect((await caught(async () => processExchangeBody(e('TOKEN_USED'), 400))).code).toBe('TOKEN_USED');
    expect((await caught(async () => processExchangeBody(e('TOKEN_EXPIRED'), 400))).code).toBe(
      'TOKEN_EXPIRED',
    );
    expect((await caught(async () => processExchangeBody(e('TOKEN_NOT_OWNED'), 403))).code).toBe('FORBIDDEN');
  });

  it('U2 processExchangeResponse stops at 1 MB: RESPONSE_TOO_LARGE', async () => {
    const big = `{"pad":"${'x'.repeat(1024 * 1024)}"}`;
    await expectInvalid(
      processExchangeResponse(new Response(big, { status: 200 })),
      undefined,
      'RESPONSE_TOO_LARGE',
    );
  });

  it('U2 processExchangeResponse reads the same checks from a Response', async () => {
    const r = await processExchangeResponse(jsonResponse(200, exchangeBody(), { 'x-request-id': 'r-9' }), {
      expectedProjectCode: 'PRJ20001',
    });
    expect(r.oauthRequestId).toBe('f47ac10b-58cc-4372-a567-0e02b2c3d479');
    const err = await caught(() =>
      processExchangeResponse(jsonResponse(200, { status: { code: 0 } }, { 'x-request-id': 'r-10' })),
    );
    expect(err.requestId).toBe('r-10');
  });
});

describe('other process steps', () => {
  it('NC12 whoami: every field checked by name', async () => {
    const good = {
      user_code: 'u',
      channel_identifier: 'c@p1.idp.noon.partners',
      key_id: 'k',
      project_code: 'PRJ1',
      projects: ['PRJ1'],
      more: 1,
    };
    expect(await processWhoamiResponse(jsonResponse(200, good))).toEqual({
      userCode: 'u',
      channelIdentifier: 'c@p1.idp.noon.partners',
      keyId: 'k',
      projectCode: 'PRJ1',
      projects: ['PRJ1'],
    });
    await expectInvalid(processWhoamiResponse(jsonResponse(200, { ...good, projects: 'PRJ1' })), 'projects');
    await expectInvalid(processWhoamiResponse(jsonResponse(200, { ...good, key_id: undefined })), 'key_id');
  });

  it('NC35 credentials/list: items checked by name', async () => {
    const list = { credentials: [{ key_id: 'a', issued_at: '2026-01-01T00:00:00Z', active: true }] };
    expect(await processListCredentialsResponse(jsonResponse(200, list))).toEqual([
      { keyId: 'a', issuedAt: '2026-01-01T00:00:00Z', active: true },
    ]);
    await expectInvalid(
      processListCredentialsResponse(
        jsonResponse(200, { credentials: [{ key_id: 'a', issued_at: 'x', active: 'yes' }] }),
      ),
      'credentials[0].active',
    );
    await expectInvalid(processListCredentialsResponse(jsonResponse(200, {})), 'credentials');
  });
});

describe('key files (NC3)', () => {
  it('NC3 accepts PKCS#1 and PKCS#8 PEM, as an object, JSON text or a file path', async () => {
    const a = parseCredentials(keyFile());
    const b = parseCredentials(JSON.stringify(keyFile({ private_key: PKCS8 })));
    const dir = mkdtempSync(join(tmpdir(), 'noon-client-'));
    const path = join(dir, 'key.json');
    writeFileSync(path, JSON.stringify(keyFile()));
    const c = await loadCredentials(path);
    for (const x of [a, b, c]) {
      expect(x.keyId).toBe('k-123');
      expect(x.privateKey.asymmetricKeyType).toBe('rsa');
    }
    // Serializing or printing credentials never shows the key.
    expect(JSON.stringify(a)).not.toContain('PRIVATE');
    expect(JSON.stringify(a)).not.toContain(PEM_LINE);
  });

  it.each(['key_id', 'private_key', 'channel_identifier', 'project_code', 'type', 'issued_at'])(
    'NC3 a key file without %s is CREDENTIALS_INVALID naming the field',
    async (field) => {
      const f = keyFile();
      delete f[field];
      const err = await expectInvalid(() => parseCredentials(f), field, 'CREDENTIALS_INVALID');
      expect(err.message).toContain(field);
    },
  );

  it.each([
    ['a truncated PEM', PKCS1.slice(0, 400)],
    ['an EC key', EC_PEM],
    ['a PEM with one character changed', PKCS1.replace(PEM_LINE, PEM_LINE.replace(/[A-Z]/, '!'))],
  ])(
    'NC3 a key file with %s is CREDENTIALS_INVALID, with no key material in the message',
    async (_n, pem) => {
      const err = await expectInvalid(
        () => parseCredentials(keyFile({ private_key: pem })),
        'private_key',
        'CREDENTIALS_INVALID',
      );
      expect(String(err)).not.toMatch(/[A-Za-z0-9+/]{40}/);
      expect(JSON.stringify(err)).not.toContain(PEM_LINE);
    },
  );

  it('NC3 broken JSON text and a missing file give clear errors without echoing the text', async () => {
    const text = JSON.stringify(keyFile()).slice(0, -20);
    const err = await expectInvalid(() => parseCredentials(text), undefined, 'CREDENTIALS_INVALID');
    expect(err.message).toBe('key file: is not valid JSON');
    const missing = await caught(() => loadCredentials('/nonexistent/noon-key.json'));
    expect(missing.code).toBe('CREDENTIALS_INVALID');
    expect(missing.message).toContain('ENOENT');
  });
});

describe('construction checks', () => {
  it('NC7 a client without a User-Agent is a TypeError with code USER_AGENT_REQUIRED', () => {
    for (const userAgent of [undefined, '', '   ']) {
      const err = (() => {
        try {
          new NoonClient({ environment: 'production', userAgent: userAgent as string });
        } catch (e) {
          return e as NoonTypeError;
        }
        throw new Error('no error');
      })();
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('USER_AGENT_REQUIRED');
    }
  });

  it('U12 plain http is refused for non-loopback hosts (INSECURE_URL) and allowed on loopback', () => {
    for (const env of [
      { local: 'http://sandbox.example.com:8788' },
      { authorizeUrl: 'https://oauth.example/', gatewayUrl: 'http://10.0.0.5' },
      { authorizeUrl: 'http://oauth.example/', gatewayUrl: 'https://gw.example' },
    ]) {
      const err = (() => {
        try {
          new NoonClient({ environment: env, userAgent: 'ua' });
        } catch (e) {
          return e as NoonTypeError;
        }
        throw new Error('no error');
      })();
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('INSECURE_URL');
    }
    for (const local of [
      'http://127.0.0.1:1',
      'http://127.9.8.7:2',
      'http://localhost:3',
      'http://[::1]:4',
    ]) {
      expect(new NoonClient({ environment: { local }, userAgent: 'ua' }).environment.name).toBe('local');
    }
  });

  it('NC16 NC1 the authorization URL is the consent page with client_id and state in production', () => {
    const client = new NoonClient({ environment: 'production', userAgent: 'ua' });
    const oauth = new NoonOAuth({
      session: new NoonSession(client, parseCredentials(keyFile())),
      clientId: 'acme connect',
      clientSecret: 's3cret',
    });
    expect(oauth.authorizationUrl({ state: 'st/1' })).toBe(
      'https://oauth.noon.partners/?client_id=acme+connect&state=st%2F1',
    );
    expect(() => oauth.authorizationUrl({ state: 'x'.repeat(513) })).toThrow(TypeError);
    expect(client.environment.gatewayOrigin).toBe('https://noon-api-gateway.noon.partners');
  });

  it("NC2 on Noon's static sandbox, token/create and exchange throw NOT_SUPPORTED before any request", async () => {
    const rec = recordingFetch();
    const client = new NoonClient({ environment: 'noon-sandbox', userAgent: 'ua', fetch: rec.fetch });
    expect(client.environment.gatewayOrigin).toBe('https://noon-sandbox-api-gateway.noon.partners');
    const oauth = new NoonOAuth({
      session: new NoonSession(client, parseCredentials(keyFile())),
      clientId: 'c',
      clientSecret: 's',
    });
    for (const call of [() => oauth.createToken('code'), () => oauth.exchangeToken('token')]) {
      const err = await caught(call);
      expect(err).toBeInstanceOf(NoonError);
      expect(err.code).toBe('NOT_SUPPORTED');
    }
    expect(() => oauth.authorizationUrl({ state: 's' })).toThrow(NoonError);
    // Not even the login went out.
    expect(rec.calls).toHaveLength(0);
  });
});
