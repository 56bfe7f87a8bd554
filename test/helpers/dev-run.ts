// `noon-connect dev` as a new user meets it: started as a child process, its dashboard and sandbox seller read
// from its output, and the quick-start connect over plain HTTP (one cookie jar per origin, redirects followed by
// hand) from "Connect a seller" through the sandbox's consent forms back to the dashboard.

import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { decide, fetchPage, formFor, openConsent, signInSeller } from './browser.js';

export class Jar {
  readonly #byOrigin = new Map<string, Map<string, string>>();

  header(url: string): string {
    return [...(this.#byOrigin.get(new URL(url).origin) ?? [])].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  take(url: string, setCookies: string[]): void {
    const origin = new URL(url).origin;
    const jar = this.#byOrigin.get(origin) ?? new Map<string, string>();
    this.#byOrigin.set(origin, jar);
    for (const [pair] of setCookies.map((c) => c.split(';'))) {
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '') jar.delete(name);
      else jar.set(name, value);
    }
  }
}

/** GETs `url` (or posts `form` to it) and follows redirects while they stay on `origin`; returns where it ended. */
export async function browse(
  jar: Jar,
  url: string,
  origin: string,
  form?: URLSearchParams,
): Promise<{ url: string; status: number; text: string }> {
  let at = url;
  let page = await fetchPage(at, { cookie: jar.header(at), ...(form ? { form } : {}) });
  jar.take(at, page.cookies);
  for (let hops = 0; page.location && hops < 10; hops++) {
    at = new URL(page.location, at).toString();
    if (new URL(at).origin !== origin) return { url: at, status: page.status, text: '' };
    page = await fetchPage(at, { cookie: jar.header(at) });
    jar.take(at, page.cookies);
  }
  return { url: at, status: page.status, text: page.text };
}

export interface DevRun {
  child: ChildProcess;
  output: () => string;
  dashboard: string;
  /** The link that signs a browser in to the dashboard, when dev printed one (no admin token configured). */
  signIn: string | undefined;
  seller: { email: string; password: string };
}

/** Starts `dev` with `command` and waits for the lines that give its dashboard and the sandbox seller. */
export async function startDev(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<DevRun> {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const ready = await new Promise<RegExpMatchArray>((resolvePromise, reject) => {
    const started = Date.now();
    const tick = () => {
      const dashboard = /dashboard:\s+(\S+)/.exec(output);
      const seller = /consent page as (\S+) \/ (\S+)/.exec(output);
      if (dashboard && seller) return resolvePromise([dashboard[1]!, seller[1]!, seller[2]!]);
      if (child.exitCode !== null) return reject(new Error(`dev exited ${child.exitCode}:\n${output}`));
      if (Date.now() - started > 90_000) return reject(new Error(`dev did not start:\n${output}`));
      setTimeout(tick, 50);
    };
    tick();
  });
  return {
    child,
    output: () => output,
    dashboard: ready[0]!.replace(/\/$/, ''),
    signIn: /sign in:\s+(http\S+)/.exec(output)?.[1],
    seller: { email: ready[1]!, password: ready[2]! },
  };
}

export async function stopDev(dev: DevRun): Promise<number | null> {
  if (dev.child.exitCode !== null) return dev.child.exitCode;
  const exited = new Promise<number | null>((r) => dev.child.once('exit', (code) => r(code)));
  dev.child.kill('SIGTERM');
  return exited;
}

/**
 * The quick-start connect over plain HTTP: "Connect a seller" on the dashboard, sign in and allow on the
 * sandbox's consent page, back on the dashboard with the seller connected. Returns the page it lands on.
 */
export async function connectThroughDashboard(dev: DevRun): Promise<string> {
  const jar = new Jar();
  if (dev.signIn) await browse(jar, dev.signIn, dev.dashboard);
  const home = await browse(jar, `${dev.dashboard}/`, dev.dashboard);
  expect(home.status).toBe(200);
  expect(home.text).toContain('Connections');
  const start = new URLSearchParams(formFor(home.text, '/connect-seller').fields);
  start.set('tenant', 'demo');
  const toNoon = await browse(jar, `${dev.dashboard}/connect-seller`, dev.dashboard, start);
  const authorize = toNoon.url;
  expect(new URL(authorize).origin).not.toBe(dev.dashboard);
  const sb = { url: new URL(authorize).origin } as Sandbox;
  const seller = await signInSeller(sb, authorize, dev.seller);
  const { form } = await openConsent(authorize, seller);
  if (!form.fields.some(([name]) => name === 'project_code')) {
    const first = form.radios.find(([name]) => name === 'project_code');
    if (first) form.fields.push(first);
  }
  const decided = await decide(sb, form, seller, 'approve');
  expect(decided.status).toBe(303);
  const back = await browse(jar, new URL(decided.location!, sb.url).toString(), dev.dashboard);
  expect(back.status).toBe(200);
  return back.text;
}
