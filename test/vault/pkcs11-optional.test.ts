// The PKCS#11 binding is an optional peer: without koffi the vault loads and works exactly as before, and only
// opening a PKCS#11 provider fails, with reason BINDING_MISSING. Runs in a child process where a module hook
// makes `koffi` unresolvable, so it holds whether or not koffi is installed here.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'noon-connect-no-koffi-'));
  await writeFile(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
  if (specifier === 'koffi' || specifier.startsWith('koffi/')) {
    const err = new Error("Cannot find package 'koffi'");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
`,
  );
  await writeFile(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
  );
  const vault = pathToFileURL(join(ROOT, 'src/vault/index.ts')).href;
  await writeFile(
    join(dir, 'script.mts'),
    `const v = await import(${JSON.stringify(vault)});
const meta = new Map();
const store = { get: async (n) => meta.get(n), set: async (n, x) => { meta.set(n, x); } };
const vault = await v.Vault.open({ provider: v.LocalKeyProvider.fromValue(v.keygen()), meta: store });
const context = { tenant: 't', project: 'p', credentialId: 'c', purpose: 'x' };
const local = (await vault.open(await vault.seal('still works', context), context)).toString();
let pkcs11;
try {
  await v.Pkcs11KeyProvider.open({ module: '/nonexistent.so', token: { label: 't' }, pin: '1', current: 'v1', keys: { v1: 'k' } });
} catch (e) {
  pkcs11 = { code: e.code, reason: e.reason, message: e.message };
}
process.stdout.write(JSON.stringify({ local, pkcs11 }));
`,
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('without the koffi binding', () => {
  it('the vault loads and seals as before; a PKCS#11 provider refuses with BINDING_MISSING', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--import', pathToFileURL(join(dir, 'register.mjs')).href, join(dir, 'script.mts')],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.local).toBe('still works');
    expect(out.pkcs11).toMatchObject({ code: 'VAULT_HSM', reason: 'BINDING_MISSING' });
    expect(out.pkcs11.message).toMatch(/npm install koffi/);
  });
});
