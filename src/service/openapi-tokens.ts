// The OpenAPI path objects of the token and audit routes (merged into the document by openapi.ts). Their error
// answers use their own schema, whose code list adds the two codes only these routes answer.

const TENANT = '^[A-Za-z0-9._:@-]{1,128}$';

const tokenError = (description: string, codes: string[]) => ({
  description,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['error'],
        additionalProperties: false,
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            additionalProperties: false,
            properties: { code: { type: 'string', enum: codes }, message: { type: 'string' } },
          },
        },
      },
    },
  },
});

const nullableTime = { type: ['string', 'null'], format: 'date-time' };

const tokenView = {
  type: 'object',
  description:
    'An API token, by its prefix. Never the token itself (only the 201 answer of its creation holds it).',
  required: [
    'prefix',
    'name',
    'tenant',
    'created_at',
    'created_by',
    'expires_at',
    'last_used_at',
    'revoked_at',
    'status',
  ],
  additionalProperties: false,
  properties: {
    prefix: { type: 'string', pattern: '^nct_[0-9a-f]{12}$' },
    name: { type: 'string' },
    tenant: { type: ['string', 'null'], description: 'The one tenant it acts for; null: every tenant.' },
    created_at: { type: 'string', format: 'date-time' },
    created_by: { type: 'string' },
    expires_at: nullableTime,
    last_used_at: nullableTime,
    revoked_at: nullableTime,
    status: { type: 'string', enum: ['active', 'expired', 'revoked'] },
  },
};

const auditEntry = {
  type: 'object',
  required: ['id', 'at', 'actor', 'action', 'tenant', 'connection_id', 'outcome', 'detail'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    actor: {
      type: 'string',
      description: 'token:<prefix>, api-token, admin:<session handle>, cli or scheduler.',
    },
    action: { type: 'string' },
    tenant: { type: ['string', 'null'] },
    connection_id: { type: ['string', 'null'] },
    outcome: { type: 'string', description: 'An HTTP status, ok, or an error code.' },
    detail: { type: ['string', 'null'] },
  },
};

const common = {
  '401': tokenError('No bearer token, or not a valid one.', ['UNAUTHORIZED']),
  '403': tokenError('A scoped token where an all-tenants token is needed, or another origin.', [
    'ALL_TENANTS_TOKEN_REQUIRED',
    'TENANT_MISMATCH',
    'FORBIDDEN',
  ]),
  default: tokenError('Any other error.', ['INVALID_REQUEST', 'METHOD_NOT_ALLOWED', 'NOT_FOUND', 'INTERNAL']),
};

/** `/api/tokens`, `/api/tokens/{prefix}/revoke` and `/api/audit`. */
export const tokenPaths = {
  '/api/tokens': {
    get: {
      operationId: 'listTokens',
      tags: ['tokens'],
      summary: 'List API tokens (an all-tenants token is required).',
      parameters: [
        { name: 'tenant', in: 'query', required: false, schema: { type: 'string', pattern: TENANT } },
      ],
      responses: {
        '200': {
          description: 'The tokens, newest first.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['tokens'],
                additionalProperties: false,
                properties: { tokens: { type: 'array', items: tokenView } },
              },
            },
          },
        },
        ...common,
      },
    },
    post: {
      operationId: 'createToken',
      tags: ['tokens'],
      summary: 'Make an API token; the answer holds it, once (an all-tenants token is required).',
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['name'],
              additionalProperties: false,
              properties: {
                name: { type: 'string', maxLength: 80 },
                tenant: {
                  type: ['string', 'null'],
                  pattern: TENANT,
                  description: 'Omitted or null: every tenant.',
                },
                expires_in_days: { type: 'integer', minimum: 1, maximum: 3650 },
              },
            },
          },
        },
      },
      responses: {
        '201': {
          description: 'The token (shown this once) and its view.',
          content: {
            'application/json': {
              schema: {
                ...tokenView,
                required: [...tokenView.required, 'token'],
                properties: { ...tokenView.properties, token: { type: 'string' } },
              },
            },
          },
        },
        '400': tokenError('Bad input.', ['INVALID_REQUEST']),
        ...common,
      },
    },
  },
  '/api/tokens/{prefix}/revoke': {
    post: {
      operationId: 'revokeToken',
      tags: ['tokens'],
      summary: 'Revoke an API token on every instance at once (an all-tenants token is required).',
      parameters: [
        {
          name: 'prefix',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^nct_[0-9a-f]{12}$' },
        },
      ],
      responses: {
        '200': { description: 'The token, revoked.', content: { 'application/json': { schema: tokenView } } },
        '404': tokenError('No such token.', ['TOKEN_NOT_FOUND', 'NOT_FOUND']),
        ...common,
      },
    },
  },
  '/api/audit': {
    get: {
      operationId: 'listAudit',
      tags: ['tokens'],
      summary: 'The audit log, newest first (a scoped token reads its own tenant’s records).',
      parameters: [
        { name: 'tenant', in: 'query', required: false, schema: { type: 'string', pattern: TENANT } },
        { name: 'connection_id', in: 'query', required: false, schema: { type: 'string' } },
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 1, maximum: 1000 },
        },
      ],
      responses: {
        '200': {
          description: 'Audit records.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['entries'],
                additionalProperties: false,
                properties: { entries: { type: 'array', items: auditEntry } },
              },
            },
          },
        },
        ...common,
      },
    },
  },
};
