// Helpers for the service's operational tests: the environment a child `noon-connect` process sees, opening a
// service's store and links from the test process, a logical dump of a SQLite database, a recording proxy in
// front of the sandbox (to learn every secret that crossed the wire) and Prometheus text parsing. A connect
// through a service is `connectThrough` (seller-flow.ts) from its signed link.

import { createServer, type Server } from 'node:http';
import { ConnectLinks, ENV_VARS } from '../../src/service/index.js';
import { metaOf, openSqliteDatabase, openStore, type Store } from '../../src/store/index.js';
import { LocalKeyProvider, parseKeyConfig, Vault } from '../../src/vault/index.js';
import { listen } from './net.js';
import type { SecretSearch } from './secret-search.js';

/**
 * The environment for a child process: every variable the service reads is blanked (an empty value counts as
 * unset), then `env` is applied, so the runner's own environment cannot leak into the configuration.
 */
export function childEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k] of ENV_VARS) out[k] = '';
  for (const [k, v] of Object.entries(env)) out[k] = v ?? '';
  return out;
}

/** The store, vault and connect links of a service, opened from the test process (the vault check writes nothing new). */
export async function openServiceStore(env: Record<string, string | undefined>): Promise<{
  store: Store;
  vault: Vault;
  links: ConnectLinks;
  close(): Promise<void>;
}> {
  const store = await openStore(env.NOON_CONNECT_STORE!);
  const vault = await Vault.open({
    provider: new LocalKeyProvider(parseKeyConfig(env.NOON_CONNECT_MASTER_KEY)),
    meta: metaOf(store),
  });
  const links = await ConnectLinks.create({
    store,
    vault,
    publicUrl: env.NOON_CONNECT_PUBLIC_URL!,
    now: Date.now,
  });
  return { store, vault, links, close: () => store.close() };
}

/** Every row of every table, in a stable order: equal dumps mean nothing was written. */
export function sqliteDump(file: string): string {
  const db = openSqliteDatabase(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[];
    const out: string[] = [];
    for (const { name } of tables) {
      const rows = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all();
      out.push(
        `# ${name}`,
        ...rows
          .map((r) =>
            JSON.stringify(r, (_k, v) =>
              typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v,
            ),
          )
          .sort(),
      );
    }
    return out.join('\n');
  } finally {
    db.close();
  }
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'host',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
  'content-encoding',
]);

/**
 * A plain HTTP proxy in front of the sandbox that records every secret crossing it (request and response
 * bodies, cookies sent and set) into `secrets`: point NOON_LOCAL_URL at `url`.
 */
export async function recordingProxy(
  target: string,
  secrets: SecretSearch,
): Promise<{ url: string; close(): Promise<void> }> {
  const tapped = secrets.tap((input, init) => fetch(input, { ...init, redirect: 'manual' }));
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const body = chunks.length > 0 ? Buffer.concat(chunks).toString('utf8') : undefined;
      tapped(`${target}${req.url}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body !== undefined ? { body } : {}),
      })
        .then(async (r) => {
          const out = Buffer.from(await r.arrayBuffer());
          const h: Record<string, string | string[]> = {};
          r.headers.forEach((v, k) => {
            if (!HOP_BY_HOP.has(k) && k !== 'set-cookie') h[k] = v;
          });
          const cookies = r.headers.getSetCookie();
          if (cookies.length > 0) h['set-cookie'] = cookies;
          res.writeHead(r.status, h);
          res.end(out);
        })
        .catch(() => {
          res.destroy();
        });
    });
  });
  const l = await listen(server);
  return { url: `http://127.0.0.1:${l.port}`, close: l.close };
}

/** The value of one sample in Prometheus text: `name` with exactly these labels (none: the bare sample). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"/g))
      found[p[1]!] = p[2]!;
    const want = Object.entries(labels);
    if (want.length !== Object.keys(found).length) continue;
    if (want.every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}
