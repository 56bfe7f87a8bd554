// What every check gets: the options, the sandbox link, the OAuth client, fresh seller projects, browsers that
// record what the application answered, the secret scanner, the current check's deadline, and the one shared
// connect that the observing checks (happy path, immediacy, login, secrets) look at.

import { randomBytes } from 'node:crypto';
import { Agent, type Captured } from './agent.js';
import type { Connected } from './flow.js';
import { type ResolvedOptions, selected } from './options.js';
import type { SandboxLink } from './sandbox-link.js';
import { SecretScanner } from './secret-scan.js';

export interface SellerProject {
  code: string;
  email: string;
  password: string;
}

export class Run {
  readonly captured: Captured[] = [];
  readonly scanner = new SecretScanner();
  /** The application's logs, read by the secrets check after every other check ran. */
  readonly logs: { name: string; read: () => Promise<string> }[] = [];
  readonly appOrigins: ReadonlySet<string>;
  /** The current check's deadline; the runner sets it before each check. */
  signal: AbortSignal = new AbortController().signal;
  /** What the current check is doing, for the report when its deadline passes. */
  step = 'starting';
  #connected: Promise<Connected> | undefined;
  #connect: ((run: Run) => Promise<Connected>) | undefined;

  constructor(
    readonly o: ResolvedOptions,
    readonly link: SandboxLink,
    readonly clientId: string,
    clientSecret: string,
    /** Noon's consent page as the sandbox serves it. */
    readonly authorizeUrl: URL,
  ) {
    this.appOrigins = new Set([o.start.origin, o.callback.origin]);
    this.scanner.add('client secret', clientSecret);
  }

  /** A browser: the seller's (with the integrator user's headers and cookies) or, `withUser: false`, a stranger's. */
  agent(withUser = true): Agent {
    return new Agent(
      {
        timeoutMs: this.o.timeoutMs,
        signal: this.signal,
        appOrigins: this.appOrigins,
        headers: this.o.headers,
        captured: this.captured,
      },
      { withUser, cookies: this.o.cookies, start: this.o.start },
    );
  }

  /** A seller of its own with one project, so no check inherits another's keys (Noon's 5-key limit). */
  async newProject(): Promise<SellerProject> {
    const id = randomBytes(5).toString('hex');
    const p = {
      code: `PRJC${id.toUpperCase()}`,
      email: `check-${id}@sellers.example`,
      password: randomBytes(9).toString('base64url'),
    };
    this.step = 'adding a seller project to the sandbox';
    await this.link.addSeller(
      {
        email: p.email,
        password: p.password,
        name: `Check seller ${id}`,
        projects: [{ project_code: p.code, name: `Check ${id}` }],
      },
      this.signal,
    );
    return p;
  }

  wants(caseId: string): boolean {
    return selected(this.o, caseId);
  }

  /** Sets how the shared connect is made (flow.ts), kept apart so run.ts does not import the flow. */
  useConnect(connect: (run: Run) => Promise<Connected>): void {
    this.#connect = connect;
  }

  /**
   * One completed connect that several checks observe. Made once per run; a failed attempt is not cached, so a
   * later check tries again.
   */
  connected(): Promise<Connected> {
    if (!this.#connect) throw new TypeError('Run.useConnect was not called');
    this.#connected ??= this.#connect(this).then((c) => {
      if (!c.ok) this.#connected = undefined;
      return c;
    });
    const pending = this.#connected;
    pending.catch(() => {
      if (this.#connected === pending) this.#connected = undefined;
    });
    return pending;
  }
}
