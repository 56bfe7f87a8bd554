// `noon-connect sandbox` as a user runs it: help, bad usage, start-up output, a working server, clean stop.

import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

  it('--redirect-uri registers more callbacks with the first client; every client and its secret is printed; the pool size is said; the temp key folder goes at exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-cli-'));
    const config = join(dir, 'fixtures.json');
    const { DEFAULT_CONFIG } = await import('../../src/sandbox/fixtures.js');
    writeFileSync(
      config,
      JSON.stringify({
        ...DEFAULT_CONFIG,
        clients: [
          ...DEFAULT_CONFIG.clients!,
          { client_id: 'second-app', name: 'Second App', redirect_uris: ['http://127.0.0.1:4000/cb'] },
        ],
      }),
    );
    const extra = ['http://127.0.0.1:3000/connect/callback', 'https://app.example/connect/callback'];
    const run = runCli([
      'sandbox',
      '--port',
      '0',
      '--config',
      config,
      '--redirect-uri',
      extra[0]!,
      '--redirect-uri',
      extra[1]!,
      '--pool-size',
      '2',
      '--key-cache',
      KEY_CACHE_DIR,
    ]);
    const [, url] = await run.waitFor(/running at (http:\/\/127\.0\.0\.1:\d+)/);
    await run.waitFor(/PRJ20004/);
    const out = run.stdout();
    expect(out).toContain(`redirect URIs: http://127.0.0.1:8787/connect/callback, ${extra.join(', ')}`);
    expect(out).toMatch(/client_id=acme-connect/);
    expect(out).toMatch(/client_id=second-app/);
    expect(out.match(/client_secret=\S{20,}/g)).toHaveLength(2);
    expect(out).toMatch(/key pool: 2 RSA keys kept ready \(--pool-size, at most 10000\)/);
    // The consent page accepts the added callback for the first client, exactly as registered.
    const consent = await fetch(
      `${url}/?${new URLSearchParams({ client_id: 'acme-connect', state: 's', redirect_uri: extra[0]! })}`,
      { headers: { 'user-agent': UA } },
    );
    expect(await consent.text()).not.toMatch(/not registered/);
    const keyFile = out.match(/key file: (\S+)/)![1]!;
    expect(existsSync(keyFile)).toBe(true);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    // Without --key-file or --data the key went to a temp folder of this run, and it is gone.
    expect(existsSync(dirname(keyFile))).toBe(false);
  });

  it('--redirect-uri that is not an absolute http(s) URL and --pool-size past the pool limit exit 2 saying why', async () => {
    const a = runCli(['sandbox', '--redirect-uri', '/connect/callback']);
    expect(await a.exit).toBe(2);
    expect(a.stderr()).toMatch(/--redirect-uri must be an absolute http\(s\) URL/);
    const b = runCli(['sandbox', '--pool-size', '20000']);
    expect(await b.exit).toBe(2);
    expect(b.stderr()).toMatch(/--pool-size must be an integer from 1 to 10000/);
  });

  it('--json prints the start-up details as one JSON object: URLs, every client with its secret, the pool, the sellers', async () => {
    const run = runCli([
      'sandbox',
      '--port',
      '0',
      '--json',
      '--pool-size',
      '2',
      '--key-cache',
      KEY_CACHE_DIR,
    ]);
    const [line] = await run.waitFor(/^\{.*\}$/m);
    const o = JSON.parse(line) as {
      url: string;
      clients: { client_id: string; client_secret: string; redirect_uris: string[] }[];
      pool_size: number;
      sellers: { email: string }[];
      integrator: { key_file: string; key_file_removed_at_exit: boolean };
    };
    expect(o.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(o.clients[0]).toMatchObject({
      client_id: 'acme-connect',
      redirect_uris: ['http://127.0.0.1:8787/connect/callback'],
    });
    expect(o.clients[0]!.client_secret.length).toBeGreaterThanOrEqual(20);
    expect(o.pool_size).toBe(2);
    expect(o.sellers.map((s) => s.email)).toContain('layla@sellers.example');
    expect(o.integrator.key_file_removed_at_exit).toBe(true);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.stdout().trim()).toBe(line);
    expect(existsSync(o.integrator.key_file)).toBe(false);
  });
});
