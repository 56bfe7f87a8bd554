// The OpenAPI 3.1 description of the REST API, served at GET /api/openapi.json. Schemas are JSON Schema 2020-12
// and describe exactly what the handlers answer (the API's tests check every answer against them).

import { CONNECTION_STATUSES, TENANT_PATTERN } from '../connect/invariants.js';
import { tokenPaths } from './openapi-tokens.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string) => ({ type: [type, 'null'] });
const dateTime = { type: 'string', format: 'date-time' };
const statuses = [...CONNECTION_STATUSES];
const tenantPattern = TENANT_PATTERN.source;

const ERROR_CODES = [
  'UNAUTHORIZED',
  'INVALID_REQUEST',
  'TENANT_MISMATCH',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RETURN_PATH_REFUSED',
  'PATH_REFUSED',
  'CONNECTION_NOT_FOUND',
  'CONNECTION_INACTIVE',
  'KEY_LIMIT',
  'UNAVAILABLE',
  'SELLER_LOGIN_FAILED',
  'UPSTREAM_TIMEOUT',
  'OUTCOME_UNKNOWN',
  'INTERNAL',
];

const CONNECTION_EXAMPLE = {
  id: '3f6c1f7e-6a53-4b5e-9a8e-0d6f2b1c9a10',
  tenant: 'acme',
  seller_project: 'PRJ20001',
  status: 'active',
  key_id: 'k-7d1e2c',
  channel_identifier: 'layla-home@p20001.idp.noon.partners',
  oauth_request_id: 'oreq-5b9a',
  created_at: '2026-12-03T14:50:00.000Z',
  connected_at: '2026-12-03T14:50:02.000Z',
  updated_at: '2026-12-03T14:50:02.000Z',
  last_health: { checked_at: '2026-12-03T15:00:00.000Z', ok: true, detail: null },
};

const schemas = {
  Error: {
    type: 'object',
    examples: [{ error: { code: 'CONNECTION_NOT_FOUND', message: 'no such connection' } }],
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', enum: ERROR_CODES, description: 'Stable; decide on this.' },
          message: { type: 'string', description: 'For people; may change.' },
        },
      },
    },
  },
  Connection: {
    type: 'object',
    description: 'Metadata of a connection. Never a key, token or session.',
    examples: [CONNECTION_EXAMPLE],
    required: [
      'id',
      'tenant',
      'seller_project',
      'status',
      'key_id',
      'channel_identifier',
      'oauth_request_id',
      'created_at',
      'connected_at',
      'updated_at',
      'last_health',
    ],
    additionalProperties: false,
    properties: {
      id: { type: 'string' },
      tenant: { type: 'string' },
      seller_project: { type: 'string', description: "The seller's Noon project code." },
      status: { type: 'string', enum: statuses },
      key_id: { ...nullable('string'), description: 'Id of the key in use (not the key).' },
      channel_identifier: { ...nullable('string'), description: "The seller's service account." },
      oauth_request_id: {
        ...nullable('string'),
        description: "Noon's id of the OAuth request, for support.",
      },
      created_at: dateTime,
      connected_at: { type: ['string', 'null'], format: 'date-time' },
      updated_at: dateTime,
      last_health: {
        oneOf: [
          { type: 'null' },
          {
            type: 'object',
            required: ['checked_at', 'ok', 'detail'],
            additionalProperties: false,
            properties: { checked_at: dateTime, ok: { type: 'boolean' }, detail: nullable('string') },
          },
        ],
      },
    },
  },
  ConnectionList: {
    type: 'object',
    examples: [{ connections: [CONNECTION_EXAMPLE] }],
    required: ['connections'],
    additionalProperties: false,
    properties: { connections: { type: 'array', items: ref('Connection') } },
  },
  ConnectLinkRequest: {
    type: 'object',
    additionalProperties: false,
    properties: {
      tenant: {
        type: 'string',
        pattern: tenantPattern,
        description: 'Required unless the X-Noon-Connect-Tenant header names it.',
      },
      return_to: {
        type: 'string',
        description: 'A relative path under one of the allowed return paths; where the browser ends.',
      },
      connection_id: { type: 'string', description: 'Reconnect this connection (same tenant).' },
      confirm: {
        type: 'boolean',
        description:
          'For links sent by e-mail: opening the link shows a Continue button, and only its POST starts (and uses up) the link, so a mail scanner that opens every URL starts nothing.',
      },
      expires_in: {
        type: 'integer',
        minimum: 60,
        maximum: 604800,
        description: 'Lifetime in seconds (default: NOON_CONNECT_LINK_TTL_MS).',
      },
    },
  },
  ConnectLink: {
    type: 'object',
    examples: [
      {
        url: 'https://connect.example.com/connect/start?t=eyJpZCI6IjEyMyJ9.c2lnbmF0dXJl',
        expires_at: '2026-12-03T15:10:00.000Z',
      },
    ],
    required: ['url', 'expires_at'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', format: 'uri', description: 'Send the seller’s browser here.' },
      expires_at: dateTime,
    },
  },
  HealthCheck: {
    type: 'object',
    required: ['ok', 'checked_at', 'detail', 'whoami', 'connection'],
    additionalProperties: false,
    properties: {
      ok: { type: 'boolean' },
      checked_at: dateTime,
      detail: { type: 'string' },
      whoami: {
        oneOf: [
          { type: 'null' },
          {
            type: 'object',
            required: ['user_code', 'channel_identifier', 'key_id', 'project_code', 'projects'],
            additionalProperties: false,
            properties: {
              user_code: { type: 'string' },
              channel_identifier: { type: 'string' },
              key_id: { type: 'string' },
              project_code: { type: 'string' },
              projects: { type: 'array', items: { type: 'string' } },
            },
          },
        ],
      },
      connection: ref('Connection'),
    },
  },
  ProxyRequest: {
    type: 'object',
    required: ['method', 'path'],
    additionalProperties: false,
    properties: {
      method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
      path: {
        type: 'string',
        pattern: '^/(?!/)',
        description:
          'A gateway path with a single leading /, no query string, no dot segments, no encoded / \\ . or %. ' +
          'Paths under /identity (login, whoami, OAuth tokens, key management) and /_sandbox are refused.',
      },
      query: {
        type: 'object',
        additionalProperties: {
          oneOf: [
            { type: ['string', 'number', 'boolean'] },
            { type: 'array', items: { type: ['string', 'number', 'boolean'] } },
          ],
        },
      },
      body: { description: 'Any JSON value, sent as the JSON body (not with GET).' },
    },
  },
  ProxyResponse: {
    type: 'object',
    required: ['status', 'headers', 'body'],
    additionalProperties: false,
    properties: {
      status: { type: 'integer', description: "Noon's HTTP status." },
      headers: {
        type: 'object',
        required: ['content-type', 'x-request-id'],
        additionalProperties: false,
        properties: { 'content-type': nullable('string'), 'x-request-id': nullable('string') },
      },
      body: { description: "Noon's JSON body; null when it had none, or on an error status." },
      error: {
        type: 'object',
        description: 'Present when Noon answered with an error status.',
        required: ['code', 'reason'],
        additionalProperties: false,
        properties: { code: { type: 'string' }, reason: nullable('string') },
      },
    },
  },
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ref('Error') } },
});

const ok = (description: string, schema: string) => ({
  description,
  content: { 'application/json': { schema: ref(schema) } },
});

const responses = {
  BadRequest: errorResponse('Bad input (INVALID_REQUEST, RETURN_PATH_REFUSED, PATH_REFUSED).'),
  Unauthorized: {
    ...errorResponse('No bearer token, or not the configured one.'),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
  Forbidden: errorResponse(
    'TENANT_MISMATCH: the request names a tenant other than X-Noon-Connect-Tenant; FORBIDDEN: a browser page of another origin sent it.',
  ),
  ConnectionNotFound: errorResponse('CONNECTION_NOT_FOUND: no such connection, or another tenant’s.'),
  Conflict: errorResponse('CONNECTION_INACTIVE or KEY_LIMIT.'),
  UnsupportedMediaType: errorResponse('UNSUPPORTED_MEDIA_TYPE: the body is not application/json.'),
  PayloadTooLarge: errorResponse('PAYLOAD_TOO_LARGE: the body is over 64 KiB.'),
  BadGateway: errorResponse('UNAVAILABLE or SELLER_LOGIN_FAILED: Noon failed.'),
  GatewayTimeout: errorResponse('UPSTREAM_TIMEOUT or OUTCOME_UNKNOWN.'),
  Other: errorResponse('Any other error, e.g. 405 METHOD_NOT_ALLOWED or 500 INTERNAL.'),
};

const r = (name: keyof typeof responses) => ({ $ref: `#/components/responses/${name}` });
const p = (name: string) => ({ $ref: `#/components/parameters/${name}` });

const parameters = {
  ConnectionId: { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
  TenantHeader: {
    name: 'X-Noon-Connect-Tenant',
    in: 'header',
    required: false,
    description:
      'Restricts the call to this tenant: other tenants’ connections answer 404, naming another tenant 403.',
    schema: { type: 'string', pattern: tenantPattern },
  },
  TenantQuery: {
    name: 'tenant',
    in: 'query',
    required: false,
    description: 'Scope the call to this tenant (must agree with X-Noon-Connect-Tenant when both are given).',
    schema: { type: 'string', pattern: tenantPattern },
  },
  StatusQuery: {
    name: 'status',
    in: 'query',
    required: false,
    schema: { type: 'string', enum: statuses },
  },
};

/** An operation on one connection that takes no body. */
function connectionAction(
  operationId: string,
  summary: string,
  okResponse: object,
  extra: Record<string, object> = {},
) {
  return {
    post: {
      operationId,
      tags: ['connections'],
      summary,
      parameters: [p('ConnectionId'), p('TenantHeader'), p('TenantQuery')],
      responses: {
        '200': okResponse,
        '400': r('BadRequest'),
        '401': r('Unauthorized'),
        '403': r('Forbidden'),
        '404': r('ConnectionNotFound'),
        ...extra,
        default: r('Other'),
      },
    },
  };
}

export function openApiDocument(o: { serverUrl?: string } = {}) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'noon-connect service API',
      version: '1',
      license: { name: 'MIT', identifier: 'MIT' },
      description:
        "The integrator backend's API of the noon-connect service: connections, connect links, key rotation, " +
        'disconnects, health checks, and calls to Noon as a connected seller. No answer ever holds a key, ' +
        'access token, client secret or session cookie.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    ...(o.serverUrl ? { servers: [{ url: o.serverUrl }] } : {}),
    security: [{ bearerAuth: [] }],
    tags: [
      {
        name: 'connections',
        description: 'Connected sellers: list, inspect, rotate, disconnect, check, proxy.',
      },
      { name: 'connect links', description: 'Links that start the connect flow in a seller’s browser.' },
      { name: 'meta', description: 'This document.' },
    ],
    paths: {
      ...tokenPaths,
      '/api/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          tags: ['meta'],
          summary: 'This document (no authentication).',
          security: [],
          responses: {
            '200': { description: 'The OpenAPI document.', content: { 'application/json': {} } },
            '404': r('Other'),
          },
        },
      },
      '/api/connections': {
        get: {
          operationId: 'listConnections',
          tags: ['connections'],
          summary: 'List connections (metadata only).',
          parameters: [p('TenantHeader'), p('TenantQuery'), p('StatusQuery')],
          responses: {
            '200': ok('The connections.', 'ConnectionList'),
            '400': r('BadRequest'),
            '401': r('Unauthorized'),
            '403': r('Forbidden'),
            default: r('Other'),
          },
        },
      },
      '/api/connections/{id}': {
        get: {
          operationId: 'getConnection',
          tags: ['connections'],
          summary: 'One connection (metadata only).',
          parameters: [p('ConnectionId'), p('TenantHeader'), p('TenantQuery')],
          responses: {
            '200': ok('The connection.', 'Connection'),
            '400': r('BadRequest'),
            '401': r('Unauthorized'),
            '403': r('Forbidden'),
            '404': r('ConnectionNotFound'),
            default: r('Other'),
          },
        },
      },
      '/api/connect-links': {
        post: {
          operationId: 'createConnectLink',
          tags: ['connect links'],
          summary: 'A signed, expiring link that starts the connect flow for a tenant.',
          parameters: [p('TenantHeader')],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: ref('ConnectLinkRequest'),
                example: { tenant: 'acme', return_to: '/settings/noon' },
              },
            },
          },
          responses: {
            '201': ok('The link.', 'ConnectLink'),
            '400': r('BadRequest'),
            '401': r('Unauthorized'),
            '403': r('Forbidden'),
            '404': r('ConnectionNotFound'),
            '413': r('PayloadTooLarge'),
            '415': r('UnsupportedMediaType'),
            default: r('Other'),
          },
        },
      },
      '/api/connections/{id}/rotate': connectionAction(
        'rotateConnectionKey',
        "Rotate the connection's key, make-before-break.",
        ok('The connection, with its new key id.', 'Connection'),
        { '409': r('Conflict'), '502': r('BadGateway') },
      ),
      '/api/connections/{id}/disconnect': connectionAction(
        'disconnectConnection',
        "Remove the connection's keys upstream and mark it disconnected (repeating it changes nothing).",
        ok('The disconnected connection.', 'Connection'),
        { '502': r('BadGateway') },
      ),
      '/api/connections/{id}/health-check': connectionAction(
        'checkConnectionHealth',
        'Log in as the seller and ask whoami; the result is recorded on the connection.',
        ok('The result (a failed check is ok: false, not an error).', 'HealthCheck'),
        { '409': r('Conflict') },
      ),
      '/api/connections/{id}/proxy': {
        post: {
          operationId: 'proxyConnection',
          tags: ['connections'],
          summary: 'Call a Noon API as the connected seller.',
          parameters: [p('ConnectionId'), p('TenantHeader'), p('TenantQuery')],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: ref('ProxyRequest'),
                example: { method: 'GET', path: '/catalog/v1/items', query: { limit: 10 } },
              },
            },
          },
          responses: {
            '200': ok("Noon's answer (its error statuses included).", 'ProxyResponse'),
            '400': r('BadRequest'),
            '401': r('Unauthorized'),
            '403': r('Forbidden'),
            '404': r('ConnectionNotFound'),
            '409': r('Conflict'),
            '413': r('PayloadTooLarge'),
            '415': r('UnsupportedMediaType'),
            '502': r('BadGateway'),
            '504': r('GatewayTimeout'),
            default: r('Other'),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'NOON_CONNECT_API_TOKEN (optional only in dev mode on a loopback address).',
        },
      },
      parameters,
      responses,
      schemas,
    },
  };
}
