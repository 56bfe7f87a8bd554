// `noon-connect sandbox` as a user runs it: help, bad usage, start-up output, a working server, clean stop.

import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { KEY_CACHE_DIR, UA } from '../helpers/sandbox.js';

describe('noon-connect sandbox', () => {
  it('--help prints the options and exits 0', async () => {
    const run = runCli(['sandbox', '--help']);
    expect(await run.exit).toBe(0);
    expect(run.stdout()).toMatch(/Usage: noon-connect sandbox/);
    for (const opt of ['--port', '--config', '--data', '--pool-size', '--key-cache'])
      expect(run.stdout()).toContain(opt);
  });

  it('an unknown command or option exits 2 with a message', async () => {
    const a = runCli(['sandbx']);
    expect(await a.exit).toBe(2);
    expect(a.stderr()).toMatch(/unknown command 'sandbx'/);
    const b = runCli(['sandbox', '--prot', '1']);
    expect(await b.exit).toBe(2);
    expect(b.stderr()).toMatch(/--prot/);
    const c = runCli(['sandbox', '--port', 'eighty']);
    expect(await c.exit).toBe(2);
    expect(c.stderr()).toMatch(/--port must be an integer/);
  });

  it('a config file that is not valid exits 1 naming the problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-cli-'));
    const bad = join(dir, 'bad.json');
    (await import('node:fs')).writeFileSync(
      bad,
      JSON.stringify({ sellers: [{ email: 'x@y.z', projects: [] }] }),
    );
    const run = runCli(['sandbox', '--port', '0', '--config', bad]);
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toMatch(/sellers\[0\]\.projects must be a non-empty array/);
  });

  it('a port in use exits 1 and says so', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = runCli(['sandbox', '--port', String(port), '--key-cache', KEY_CACHE_DIR]);
      expect(await run.exit).toBe(1);
      expect(run.stderr()).toMatch(new RegExp(`port ${port} is in use`));
    } finally {
      blocker.close();
    }
  });

  it('starts, prints its URLs, client credentials, sellers and key file, serves, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-cli-'));
    const run = runCli([
      'sandbox',
      '--port',
      '0',
      '--data',
      join(dir, 'sb.db'),
      '--key-cache',
      KEY_CACHE_DIR,
    ]);
    const [, url] = await run.waitFor(/running at (http:\/\/127\.0\.0\.1:\d+)/);
    await run.waitFor(/sellers \(sign in/);
    await run.waitFor(/PRJ20004/);
    const out = run.stdout();
    expect(out).toMatch(/client_id=acme-connect/);
    expect(out).toMatch(/client_secret=\S{20,}/);
    const keyFile = out.match(/key file: (\S+)/)![1]!;
    expect(keyFile).toBe(join(dir, 'integrator-key.json'));
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = JSON.parse(readFileSync(keyFile, 'utf8'));
    expect(key.private_key).toMatch(/BEGIN RSA PRIVATE KEY/);
    const res = await fetch(`${url}/identity/v1/whoami`, { headers: { 'user-agent': UA } });
    expect(res.status).toBe(401);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.stdout()).toMatch(/stopped/);
    // The private key is printed nowhere: it is only in the key file.
    expect(run.stdout() + run.stderr()).not.toContain('PRIVATE KEY');
  });
});
