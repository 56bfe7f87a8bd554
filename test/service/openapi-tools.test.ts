// The OpenAPI document as third-party tools meet it: the one the running service serves is linted by an
// independent validator (@redocly/cli, recommended rules, no network) with no error and no warning; every
// operation has an operationId; a client generated from it (openapi-typescript types + openapi-fetch) type-checks
// under strict tsc, including a misuse that must not, and then runs against the service: it makes a connect link,
// a seller connects, and it lists the connection, checks its health and reads an error in the API's one shape.

import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { tempDir } from '../helpers/stores.js';

const run = promisify(execFile);
const ROOT = process.cwd();
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
/** Tools run offline: no telemetry, no update check. */
const OFFLINE = {
  ...process.env,
  REDOCLY_TELEMETRY: 'off',
  REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
  NO_UPDATE_NOTIFIER: '1',
};

const CLIENT = `import createClient from 'openapi-fetch';
import type { paths } from './api.js';

const api = createClient<paths>({
  baseUrl: process.env.BASE_URL!,
  headers: { authorization: \`Bearer \${process.env.API_TOKEN}\` },
});

async function main(): Promise<void> {
  const step = process.argv[2];
  if (step === 'link') {
    const { data, error } = await api.POST('/api/connect-links', { body: { tenant: 'typed-client', return_to: '/' } });
    if (error) throw new Error(error.error.code);
    const url: string = data.url;
    console.log(JSON.stringify({ url, expires_at: data.expires_at }));
    return;
  }
  const listed = await api.GET('/api/connections', { params: { query: { tenant: 'typed-client', status: 'active' } } });
  if (listed.error) throw new Error(listed.error.error.code);
  const first = listed.data.connections[0]!;
  const project: string = first.seller_project;
  // @ts-expect-error the public shape is snake_case: a camelCase field does not exist
  void first.sellerProject;
  const health = await api.POST('/api/connections/{id}/health-check', { params: { path: { id: first.id } } });
  if (health.error) throw new Error(health.error.error.code);
  const missing = await api.GET('/api/connections/{id}', { params: { path: { id: 'no-such-connection' } } });
  console.log(
    JSON.stringify({
      project,
      status: first.status,
      ok: health.data.ok,
      missing: { status: missing.response.status, code: missing.error?.error.code },
    }),
  );
}

await main();
`;

describe('the OpenAPI document with independent tools', () => {
  let stack: ServiceStack;
  let dir: string;

  beforeAll(async () => {
    stack = await startServiceStack({ sandboxOptions: { poolSize: 2 } });
    dir = tempDir('nc-openapi-');
    const doc = await (await fetch(`${stack.url}/api/openapi.json`)).text();
    writeFileSync(join(dir, 'openapi.json'), doc);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(join(ROOT, 'node_modules/openapi-fetch'), join(dir, 'node_modules/openapi-fetch'), 'dir');
    symlinkSync(
      join(ROOT, 'node_modules/openapi-typescript-helpers'),
      join(dir, 'node_modules/openapi-typescript-helpers'),
      'dir',
    );
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every operation has an operationId, the document has a license, and the schemas carry examples', async () => {
    const doc = (await (await fetch(`${stack.url}/api/openapi.json`)).json()) as {
      info: { license?: { name: string } };
      paths: Record<string, Record<string, { operationId?: string }>>;
      components: { schemas: Record<string, { examples?: unknown[] }> };
    };
    expect(doc.info.license?.name).toBe('MIT');
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(ids.length).toBeGreaterThanOrEqual(8);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const name of ['Connection', 'ConnectionList', 'ConnectLink', 'Error'])
      expect(doc.components.schemas[name]!.examples?.length, name).toBeGreaterThan(0);
  });

  it('@redocly/cli lint (recommended rules) finds no error and no warning', async () => {
    const r = await run(bin('redocly'), ['lint', 'openapi.json', '--format=summary'], {
      cwd: dir,
      env: OFFLINE,
    }).catch((e: { stdout: string; stderr: string; code: number }) => e);
    const out = `${r.stdout}\n${r.stderr}`;
    expect('code' in r ? r.code : 0, out).toBe(0);
    expect(out).toMatch(/Your API description is valid/);
    expect(out).not.toMatch(/^(error|warning) /m);
  }, 60_000);

  it('openapi-typescript + openapi-fetch: the client type-checks (strict), refuses a wrong field, and runs against the service', async () => {
    await run(bin('openapi-typescript'), ['openapi.json', '-o', 'api.d.ts'], { cwd: dir, env: OFFLINE });
    writeFileSync(join(dir, 'client.ts'), CLIENT);
    const tsc = [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '--strict',
      '--noEmit',
      '--skipLibCheck',
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--types',
      'node',
      '--typeRoots',
      join(ROOT, 'node_modules/@types'),
      'client.ts',
    ];
    const checked = await run(process.execPath, tsc, { cwd: dir }).catch((e: { stdout: string }) => e);
    expect('code' in checked ? checked.stdout : '', 'tsc').toBe('');

    // The same client with the misuse left in (no @ts-expect-error) must fail: the types are real, not any.
    writeFileSync(join(dir, 'client.ts'), CLIENT.replace(/ *\/\/ @ts-expect-error.*\n/, ''));
    const wrong = await run(process.execPath, tsc, { cwd: dir }).catch((e: { stdout: string }) => e);
    expect('code' in wrong ? wrong.stdout : '').toMatch(/sellerProject/);
    writeFileSync(join(dir, 'client.ts'), CLIENT);

    const env = { ...process.env, BASE_URL: stack.url, API_TOKEN: stack.apiToken! };
    const link = JSON.parse((await run(bin('tsx'), ['client.ts', 'link'], { cwd: dir, env })).stdout) as {
      url: string;
    };
    const seller = freshSeller(stack.sb, 'OA');
    const trip = await connectThrough(stack, { startUrl: link.url, ...seller });
    expect(trip.callback.status).toBe(303);
    const out = JSON.parse(
      (await run(bin('tsx'), ['client.ts', 'list'], { cwd: dir, env })).stdout,
    ) as unknown;
    expect(out).toEqual({
      project: seller.projectCode,
      status: 'active',
      ok: true,
      missing: { status: 404, code: 'CONNECTION_NOT_FOUND' },
    });
  }, 120_000);
});
