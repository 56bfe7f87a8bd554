// Crash tests' bench: the sandbox and the inspecting store handle live in the test process; connectors run in
// child processes (test/helpers/connect-child.ts) on the same SQLite file or Postgres schema and master key,
// so a test can stop one at a named step, kill it with SIGKILL, start a fresh one on the same store, run two
// reconcilers at once, and then check what is left: the sandbox's ledger against the stored keys and the
// flagged orphans, no attempt mid-way, and no secret in plain text on disk.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { NoonClient, NoonSession, type Whoami } from '../../src/client/index.js';
import type { ReconcileReport, Step } from '../../src/connect/index.js';
import { credentialsOf } from '../../src/connect/seller-keys.js';
import type { LedgerEntry, Sandbox } from '../../src/sandbox/index.js';
import type { Attempt, AttemptStatus, Credential, SqlStore } from '../../src/store/index.js';
import { KEYRING_META_NAME } from '../../src/vault/index.js';
import type { ChildConfig } from './connect-child.js';
import { registerClient } from './harness.js';
import { freePort } from './net.js';
import { testPkcs11, withTestVault } from './pkcs11-switch.js';
import { startSandbox, UA } from './sandbox.js';
import { SecretSearch } from './secret-search.js';
import { type Browser, beginConnect, freshSeller } from './seller-flow.js';
import { freshPostgres, freshSqlite, PG_URL } from './stores.js';
import { waitFor as waitUntil } from './wait.js';

const CHILD_ENTRY = 'test/helpers/connect-child.ts';
const MID_WAY: AttemptStatus[] = ['CLAIMED', 'TOKEN_ISSUED', 'EXCHANGE_SENT', 'KEY_STORED'];

export interface ConnectChild {
  proc: ChildProcess;
  port: number;
  origin: string;
  /** Everything the child printed so far, except its SECRET lines. */
  stdout(): string;
  stderr(): string;
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Waits until the child stops at `step`; returns the attempt id it stopped on. */
  waitStep(step: Step, ms?: number): Promise<string>;
  /** SIGKILL; resolves once the process is gone. */
  kill9(): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `times` reconcile() calls at once inside this process. */
  reconcile(times?: number): Promise<ReconcileReport[]>;
  /** Starts connector.rotate(id) in the child; resolves with its answer (never, if the child stops). */
  rotate(id: string): Promise<{ status: number; body: unknown }>;
  /** connector.disconnect(id) in the child. */
  disconnect(id: string): Promise<{ status: number; body: unknown }>;
  /** A seller session in the child (its stored key): a fresh login, then whoami. */
  seller(tenant: string, project: string): Promise<{ status: number; body: unknown }>;
  /** A heap snapshot of the child after full garbage collection, strings kept whole, written to `path`. */
  heapSnapshot(path: string): Promise<void>;
  closeStore(): Promise<void>;
}

export function spawnConnectChild(
  config: ChildConfig,
  onLine: (line: string) => void,
): Promise<ConnectChild> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD_ENTRY], {
    env: { ...process.env, NC_CHILD_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      onLine(l);
      // SECRET lines stay out of the captured output, which is itself searched for secrets.
      if (!l.startsWith('SECRET ')) out += `${l}\n`;
    }
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (re: RegExp, ms = 20_000) =>
    waitUntil(
      `${re} in the child's output`,
      () => {
        const m = out.match(re);
        if (!m && (proc.exitCode !== null || proc.signalCode !== null))
          throw new Error(`child exited (${proc.exitCode ?? proc.signalCode}): ${err}`);
        return m;
      },
      { timeoutMs: ms, intervalMs: 10, explain: () => `${out} ${err}` },
    );
  return waitFor(/^READY (\d+)$/m, 30_000).then((m) => {
    const port = Number(m[1]);
    const origin = `http://127.0.0.1:${port}`;
    const ctl = async (path: string) => {
      const r = await fetch(`${origin}/_child/${path}`, {
        method: 'POST',
        signal: AbortSignal.timeout(60_000),
      });
      return { status: r.status, body: (await r.json()) as unknown };
    };
    return {
      proc,
      port,
      origin,
      stdout: () => out,
      stderr: () => err,
      waitFor,
      async waitStep(step, ms = 20_000) {
        // A self-killed child has printed its line before it died; look at the output either way.
        const re = new RegExp(`^STEP ${step} ([0-9a-f-]{36})$`, 'm');
        const seen = out.match(re);
        if (seen) return seen[1]!;
        try {
          return (await waitFor(re, ms))[1]!;
        } catch (e) {
          const late = out.match(re);
          if (late) return late[1]!;
          throw e;
        }
      },
      async kill9() {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await exited;
      },
      exited,
      async reconcile(times = 1) {
        const r = await ctl(`reconcile?times=${times}`);
        if (r.status !== 200) throw new Error(`reconcile answered ${r.status}`);
        return r.body as ReconcileReport[];
      },
      rotate: (id) => ctl(`rotate?id=${encodeURIComponent(id)}`),
      disconnect: (id) => ctl(`disconnect?id=${encodeURIComponent(id)}`),
      seller: (tenant, project) => ctl(`seller?${new URLSearchParams({ tenant, project })}`),
      async heapSnapshot(path) {
        const r = await ctl(`heap-snapshot?${new URLSearchParams({ path })}`);
        if (r.status !== 200) throw new Error(`heap-snapshot answered ${r.status}`);
      },
      async closeStore() {
        await ctl('close-store');
      },
    };
  });
}

/** A TCP relay to Postgres that can be cut, so a connector sees its database go away mid-run. */
export class TcpRelay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {
    this.#server = createServer((inbound) => {
      const outbound = new Socket();
      this.#sockets.add(inbound).add(outbound);
      outbound.connect(targetPort, targetHost);
      inbound.pipe(outbound).pipe(inbound);
      const drop = () => {
        inbound.destroy();
        outbound.destroy();
        this.#sockets.delete(inbound);
        this.#sockets.delete(outbound);
      };
      inbound.on('error', drop).on('close', drop);
      outbound.on('error', drop).on('close', drop);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.#server.address() as AddressInfo).port;
    return this.port;
  }

  /** Closes every connection and stops accepting: new connections are refused. Safe to call twice. */
  async cut(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (this.#server.listening) await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

export interface LedgerCheck {
  /** Active keys upstream for the seller project. */
  ledgerActive: string[];
  /** Keys the store holds for the project (active or retiring). */
  stored: string[];
  /** Upstream active keys the store does not hold. */
  unknown: string[];
  /** Attempts for the project flagged as possible orphans (ORPHAN_SUSPECTED, NEEDS_RECONNECT). */
  flagged: Attempt[];
  midWay: Attempt[];
}

export interface BenchOptions {
  store: 'sqlite' | 'postgres';
  sandbox: Sandbox;
  /** How many fixed callback ports (one per child that serves callbacks). */
  ports?: number;
}

/** One test's world: a fresh store, a master key, an OAuth client registered for fixed callback ports. */
export class CrashBench {
  readonly sb: Sandbox;
  readonly storeKind: 'sqlite' | 'postgres';
  readonly masterKey = randomBytes(32).toString('base64');
  readonly search = new SecretSearch();
  /** Every line the children logged (LOG lines), parsed; searched for secrets. */
  readonly logs: unknown[] = [];
  readonly children: ConnectChild[] = [];
  store!: SqlStore;
  file: string | undefined;
  schema: string | undefined;
  ports: number[] = [];
  clientId = '';
  clientSecret = '';
  #drop: () => Promise<void> = async () => {};

  private constructor(o: BenchOptions) {
    this.sb = o.sandbox;
    this.storeKind = o.store;
    this.search.watch('child logs', this.logs);
  }

  static async open(o: BenchOptions): Promise<CrashBench> {
    const b = new CrashBench(o);
    openBenches.add(b);
    if (o.store === 'postgres') {
      const p = await freshPostgres();
      b.store = p.store;
      b.schema = p.schema;
      b.#drop = p.drop;
    } else {
      const s = await freshSqlite();
      b.store = s.store;
      b.file = s.file;
    }
    for (let i = 0; i < (o.ports ?? 1); i++) b.ports.push(await freePort());
    const client = registerClient(
      b.sb,
      b.ports.map((_, i) => b.callbackUrl(i)),
      'Crash Test Connect',
    );
    b.clientId = client.clientId;
    b.clientSecret = client.clientSecret;
    b.search.add('client secret', client.clientSecret);
    b.search.addPem(b.sb.fixtures.integrator.key!.private_key);
    return b;
  }

  callbackUrl(i = 0): string {
    return `http://127.0.0.1:${this.ports[i]}/connect/callback`;
  }

  /** A seller with one fresh project, so ledger queries see this test's keys only. */
  newSeller(): { email: string; project: string } {
    const s = freshSeller(this.sb, 'C');
    return { email: s.email, project: s.projectCode };
  }

  /** Starts a connector process. `port`: index of a registered callback port, or 'any' for a reconciler. */
  async spawn(o: Partial<ChildConfig> & { portIndex?: number | 'any' } = {}): Promise<ConnectChild> {
    const { portIndex, ...over } = o;
    const cfg: ChildConfig = {
      sandboxUrl: this.sb.url,
      integratorKey: this.sb.fixtures.integrator.key!,
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      store:
        this.storeKind === 'sqlite'
          ? { kind: 'sqlite', file: this.file! }
          : { kind: 'postgres', url: PG_URL, schema: this.schema! },
      masterKey: this.masterKey,
      port: portIndex === 'any' ? 0 : this.ports[portIndex ?? 0]!,
      reconcileAfterMs: {
        CLAIMED: 60_000,
        TOKEN_ISSUED: 30_000,
        EXCHANGE_SENT: 60_000,
        KEY_STORED: 30_000,
        retiring: 30_000,
      },
      ...over,
    };
    const child = await spawnConnectChild(cfg, (l) => {
      if (l.startsWith('SECRET ')) {
        const { kind, value } = JSON.parse(l.slice(7)) as { kind: string; value: string };
        if (kind === 'PEM') this.search.addPem(value);
        else this.search.add(kind as Parameters<SecretSearch['add']>[0], value);
      } else if (l.startsWith('LOG ')) {
        this.logs.push(JSON.parse(l.slice(4)));
      }
    });
    this.children.push(child);
    return child;
  }

  /** Two reconcilers at once: `times` concurrent calls in `child` and one in a second process on the store. */
  async reconcileTwice(child: ConnectChild, times = 1): Promise<ReconcileReport> {
    const other = await this.spawn({ portIndex: 'any' });
    try {
      const [a, b] = await Promise.all([child.reconcile(times), other.reconcile(1)]);
      const all = [...a, ...b];
      const sum = (k: keyof ReconcileReport) => all.reduce((n, r) => n + r[k], 0);
      return {
        examined: sum('examined'),
        failed: sum('failed'),
        resumed: sum('resumed'),
        orphans: sum('orphans'),
        repaired: sum('repaired'),
        needsReconnect: sum('needsReconnect'),
        connected: sum('connected'),
        retiredKeys: sum('retiredKeys'),
      };
    } finally {
      await other.kill9();
    }
  }

  /** start at the child → consent through the sandbox → the callback URL (not yet visited). */
  async begin(
    child: ConnectChild,
    o: { tenant: string; project: string; browser?: Browser; portIndex?: number },
  ): Promise<{ browser: Browser; state: string; code: string; url: string }> {
    const callbackUrl = this.callbackUrl(o.portIndex ?? 0);
    const b = await beginConnect(
      { sb: this.sb, clientId: this.clientId, origin: child.origin, callbackUrl, search: this.search },
      { tenant: o.tenant, projectCode: o.project, ...(o.browser ? { browser: o.browser } : {}) },
    );
    return { browser: b.browser, state: b.state, code: b.code!, url: b.callbackUrl };
  }

  /** A browser request whose page is captured for the secret search; a torn connection resolves as null. */
  async visit(
    browser: Browser,
    url: string,
    label: string,
  ): Promise<{ status: number; text: string; location: string | null } | null> {
    try {
      const r = await browser.get(url);
      const text = await r.text();
      this.search.captureResponse(label, r.status, r.headers, text);
      return { status: r.status, text, location: r.headers.get('location') };
    } catch (e) {
      this.search.captureError(label, e);
      return null;
    }
  }

  /** A whole connect through `child`, for a seller project, as `tenant`. */
  async connect(child: ConnectChild, tenant: string, project: string, portIndex = 0) {
    const b = await this.begin(child, { tenant, project, portIndex });
    const page = await this.visit(b.browser, b.url, `callback ${tenant}`);
    if (page?.status !== 303) throw new Error(`connect answered ${page?.status}: ${page?.text}`);
    return { ...b, page };
  }

  async attemptsFor(project: string): Promise<Attempt[]> {
    return (await this.store.listAttempts({ limit: 1000 })).filter((a) => a.sellerProject === project);
  }

  async credentialsFor(project: string, states: Credential['state'][] = ['active', 'retiring']) {
    return this.store.listCredentials({ sellerProject: project, states });
  }

  activeLedger(project: string): LedgerEntry[] {
    return this.sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined);
  }

  /** The sandbox's ledger against the store, for one seller project. */
  async ledgerCheck(project: string): Promise<LedgerCheck> {
    const ledgerActive = this.activeLedger(project).map((e) => e.keyId);
    const stored = (await this.credentialsFor(project)).map((c) => c.keyId);
    const attempts = await this.store.listAttempts({ limit: 1000 });
    return {
      ledgerActive,
      stored,
      unknown: ledgerActive.filter((k) => !stored.includes(k)),
      flagged: attempts.filter(
        (a) =>
          a.sellerProject === project && (a.status === 'ORPHAN_SUSPECTED' || a.status === 'NEEDS_RECONNECT'),
      ),
      midWay: attempts.filter((a) => MID_WAY.includes(a.status)),
    };
  }

  /**
   * What every crash case ends with: no attempt mid-way, every stored key active upstream, every active key
   * upstream either stored or accounted for by a flagged attempt, at most 5 keys, no plaintext secret on disk,
   * and none of the secrets the test handled in a page, an error, a log line or the store's data.
   */
  async checkAtRest(project: string): Promise<LedgerCheck> {
    const check = await this.ledgerCheck(project);
    expect(check.midWay.map((a) => `${a.id} ${a.status}`)).toEqual([]);
    for (const k of check.stored) expect(check.ledgerActive).toContain(k);
    expect(check.unknown.length).toBeLessThanOrEqual(check.flagged.length);
    expect(check.ledgerActive.length).toBeLessThanOrEqual(5);
    for (const { where, text } of await this.dataAtRest()) {
      expect(text.includes('PRIVATE KEY'), `PEM text in ${where}`).toBe(false);
      this.search.capture(`at rest: ${where}`, text);
    }
    for (const [i, c] of this.children.entries()) {
      this.search.capture(`child ${i} stdout`, c.stdout());
      this.search.capture(`child ${i} stderr`, c.stderr());
    }
    // A search over nothing proves nothing: these are known in every case (the children report what crossed
    // the wire: codes, access tokens, login JWTs, session cookies).
    expect(this.search.count('client secret')).toBe(1);
    expect(this.search.count('PEM')).toBeGreaterThan(0);
    for (const kind of ['code', 'access token', 'login JWT', 'session cookie'] as const)
      expect(this.search.count(kind), kind).toBeGreaterThan(0);
    expect(this.search.findings()).toEqual([]);
    // Under NOON_CONNECT_TEST_PKCS11=1 the children really sealed with the token's key: the store recorded its
    // fingerprint, which only the PKCS#11 provider makes.
    if (testPkcs11()) expect(await this.store.getMeta(KEYRING_META_NAME)).toMatch(/"pkcs11-(gcm|kcv):/);
    return check;
  }

  /** The connector's data as bytes: every file in the SQLite folder (main, WAL, shm), or every row of the schema. */
  async dataAtRest(): Promise<{ where: string; text: string }[]> {
    if (this.file) {
      const dir = dirname(this.file);
      return readdirSync(dir).map((f) => ({ where: f, text: readFileSync(join(dir, f)).toString('latin1') }));
    }
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const tables = await c.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [this.schema],
      );
      const out: { where: string; text: string }[] = [];
      for (const { table_name } of tables.rows) {
        const rows = await c.query<{ r: string }>(`SELECT t::text AS r FROM ${this.schema}.${table_name} t`);
        out.push({ where: table_name, text: rows.rows.map((r) => r.r).join('\n') });
      }
      return out;
    } finally {
      await c.end();
    }
  }

  /** The key id in an attempt's sealed answer (an exchange answer or a key a repair created), or null. */
  async sealedBodyKeyId(a: Attempt): Promise<string | null> {
    const sealed = a.rawExchangeSealed;
    if (!sealed) return null;
    // The master key is the bench's own, or the token's with NOON_CONNECT_TEST_PKCS11=1.
    const plain = await withTestVault(this.store, this.masterKey, (vault) =>
      vault.open(sealed, {
        tenant: a.tenant,
        project: a.sellerProject!,
        credentialId: a.id,
        purpose: 'exchange-body',
      }),
    );
    let found: string | null = null;
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) for (const x of v) walk(x);
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
          if (k === 'key_id' && typeof x === 'string') found = x;
          else walk(x);
        }
    };
    walk(JSON.parse(plain.toString('utf8')));
    return found;
  }

  /**
   * Logs in at the sandbox with a stored key and asks who it is: the key is valid upstream. A key held in the
   * token signs the login there.
   */
  async whoami(c: Credential): Promise<Whoami> {
    return withTestVault(this.store, this.masterKey, async (vault, signingKeys) => {
      const plain = await vault.open(c.sealed, {
        tenant: c.tenant,
        project: c.sellerProject,
        credentialId: c.id,
        purpose: 'seller-key-file',
      });
      const client = new NoonClient({
        environment: { local: this.sb.url },
        userAgent: UA,
        clock: { now: () => this.sb.clock.now() },
        timeoutMs: 5000,
      });
      try {
        return await new NoonSession(client, credentialsOf(plain.toString('utf8'), signingKeys), {
          projectCode: c.sellerProject,
        }).whoami();
      } finally {
        await client.close();
      }
    });
  }

  /** Runs SQL on the bench's Postgres schema (triggers for the disk-full case). */
  async pgExec(sql: string): Promise<void> {
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${this.schema}` });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  }

  /** Runs at close, after the children are gone (relays, servers the test started). */
  readonly cleanups: (() => Promise<void>)[] = [];

  async close(): Promise<void> {
    openBenches.delete(this);
    await Promise.all(this.children.map((c) => c.kill9()));
    for (const f of this.cleanups) await f().catch(() => {});
    await this.store.close().catch(() => {});
    await this.#drop().catch(() => {});
    if (this.file) rmSync(dirname(this.file), { recursive: true, force: true });
  }
}

/** Benches not yet closed: a test's bench is closed after it, whatever the test did. */
const openBenches = new Set<CrashBench>();

/**
 * The sandbox of a crash test file (it lives in the test process and outlives every kill): started once and
 * handed to `bind`; after each test the faults it armed are cleared and the benches it opened are closed.
 */
export function useCrashSandbox(bind: (sb: Sandbox) => void): void {
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    sb = await startSandbox();
    bind(sb);
  });
  afterAll(async () => {
    await sb?.close();
  });
  afterEach(async () => {
    sb?.faults.clear();
    for (const b of openBenches) await b.close();
  });
}
