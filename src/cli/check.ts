// `noon-connect check`: verifies an integrator application, in any language, against Noon's go-live checklist
// through the sandbox, and prints a report (terminal, --json, --junit <file>). Exit 0 only when nothing failed.

import { writeFileSync } from 'node:fs';
import {
  type AppConfig,
  CHECK_IDS,
  type CheckOptions,
  type CheckReport,
  parseStatusList,
  renderJunit,
  renderText,
  runCheck,
  type SuccessCriterion,
} from '../check/index.js';
import { EXIT, type Io, parseOptions } from './io.js';

export const CHECK_USAGE = `Usage: noon-connect check --start <url> [options]

Drives your application (any language) through Noon's go-live checklist against
the sandbox, acting as the seller's browser, and reports PASS, FAIL or WARN per
check with one sentence of evidence. Starts a sandbox unless --sandbox is given,
prints what the application must be configured with, waits for it, then runs
the checks. See docs/check.md.

Checks: ${CHECK_IDS.join(', ')}

The application:
  --start <url>             Where a seller starts connecting (required)
  --callback <url>          Its registered callback (default: 'callback' beside
                            the start path)
  --exec <command>          Start it with its configuration as NOON_* variables;
                            its output is searched like a log
  --header 'Name: value'    Sent with every request to it (repeatable)
  --cookie name=value       A cookie the seller's browser starts with (repeatable)
  --log <file>              Its log, searched for secrets after the run (repeatable)
  --wait <ms>               How long to wait for it to accept connections (30000)

The sandbox:
  --sandbox <url>           Use a running sandbox instead of starting one
  --sandbox-token <t>       Its admin token
  --sandbox-port <n>        Port of the sandbox started here (8788; 0 = any)
  --key-file <file>         Where that sandbox writes the integrator key file
  --key-cache <dir>         Keep RSA keys ready across runs
  --client-id <id>          The OAuth client to use or create
  --client-secret <s>       Its secret, for a client created here

Judging:
  --success-status <list>   Final status that reads as success (default 2xx)
  --success-url <regex>     The final URL must match
  --success-body <regex>    The final page must match (default: connected|success…)
  --failure-body <regex>    The final page must not match (default: not connected|
                            failed|error|denied…); '' turns a pattern off
  --timeout <ms>            Deadline per request to the application (15000)
  --check-timeout <ms>      Deadline per check (120000)
  --max-exchange-delay <ms> Longest token/create → token/exchange that passes (10000)
  --verify-login            Require a login with the new key
  --browser                 Also run the happy path in Chromium (playwright-core)
  --chromium <path>         The Chromium to use

Output:
  --only <ids>              Run only these checks or cases (comma-separated)
  --skip <ids>              Skip these
  --json                    Print the report as JSON (configuration goes to stderr)
  --junit <file>            Also write JUnit XML
  --color <when>            auto (default: on a terminal), always or never
  -h, --help                Show this help

Exit codes: 0 nothing failed, 1 a check failed or the run could not finish,
2 bad usage.`;

function ms(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`--${name} must be a positive integer (ms)`);
  return n;
}

function pattern(v: string | undefined, name: string): RegExp | null | undefined {
  if (v === undefined) return undefined;
  if (v === '') return null;
  try {
    return new RegExp(v, 'i');
  } catch {
    throw new TypeError(`--${name} is not a valid regular expression`);
  }
}

function list(v: unknown): string[] {
  return ((v as string[] | undefined) ?? [])
    .flatMap((s) => s.split(',').map((x) => x.trim()))
    .filter(Boolean);
}

function headers(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of (v as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new TypeError(`--header must be 'Name: value' (got '${h.slice(0, 40)}')`);
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

function configLines(c: AppConfig): string[] {
  return [
    'Configure the application with:',
    `  consent URL (authorize): ${c.authorizeUrl}`,
    `  gateway URL:             ${c.gatewayUrl}`,
    `  client id:               ${c.clientId}`,
    `  client secret:           ${c.clientSecret}`,
    `  integrator key file:     ${c.keyFile ?? '(not known to this sandbox; use its own key file)'}`,
    `  callback to register:    ${c.callback}`,
    'or as environment variables (what --exec passes):',
    ...Object.entries(c.env).map(([k, v]) => `  ${k}=${v}`),
  ];
}

export async function checkCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'check',
    argv,
    {
      start: { type: 'string' },
      callback: { type: 'string' },
      exec: { type: 'string' },
      header: { type: 'string', multiple: true },
      cookie: { type: 'string', multiple: true },
      log: { type: 'string', multiple: true },
      wait: { type: 'string' },
      sandbox: { type: 'string' },
      'sandbox-token': { type: 'string' },
      'sandbox-port': { type: 'string' },
      'key-file': { type: 'string' },
      'key-cache': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'success-status': { type: 'string' },
      'success-url': { type: 'string' },
      'success-body': { type: 'string' },
      'failure-body': { type: 'string' },
      timeout: { type: 'string' },
      'check-timeout': { type: 'string' },
      'max-exchange-delay': { type: 'string' },
      'verify-login': { type: 'boolean' },
      browser: { type: 'boolean' },
      chromium: { type: 'string' },
      only: { type: 'string', multiple: true },
      skip: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      junit: { type: 'string' },
      color: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    CHECK_USAGE,
    io,
  );
  if (!parsed) return EXIT.USAGE;
  const v = parsed.values;
  if (v.help) {
    io.out(CHECK_USAGE);
    return EXIT.OK;
  }
  const str = (k: string) => v[k] as string | undefined;
  const usage = (m: string) => {
    io.err(`noon-connect check: ${m}\n\n${CHECK_USAGE}`);
    return EXIT.USAGE;
  };
  if (!str('start')) return usage('--start <url> is required');
  const colour = str('color') ?? 'auto';
  if (!['auto', 'always', 'never'].includes(colour)) return usage('--color must be auto, always or never');

  let options: CheckOptions;
  try {
    const success: Partial<SuccessCriterion> = {};
    if (str('success-status') !== undefined) success.status = parseStatusList(str('success-status')!);
    const url = pattern(str('success-url'), 'success-url');
    const body = pattern(str('success-body'), 'success-body');
    const notBody = pattern(str('failure-body'), 'failure-body');
    if (url !== undefined) success.url = url;
    if (body !== undefined) success.body = body;
    if (notBody !== undefined) success.notBody = notBody;
    const port = str('sandbox-port');
    if (port !== undefined && !/^\d+$/.test(port))
      throw new TypeError('--sandbox-port must be a port number');
    const num = (k: string) => ms(str(k), k);
    options = {
      start: str('start')!,
      ...(str('callback') ? { callback: str('callback')! } : {}),
      ...(str('exec') ? { exec: str('exec')! } : {}),
      headers: headers(v.header),
      cookies: list(v.cookie),
      logFiles: (v.log as string[] | undefined) ?? [],
      ...(str('sandbox') ? { sandbox: str('sandbox')! } : {}),
      ...(str('sandbox-token') ? { sandboxToken: str('sandbox-token')! } : {}),
      ...(port !== undefined ? { sandboxPort: Number(port) } : {}),
      ...(str('key-file') ? { keyFile: str('key-file')! } : {}),
      ...(str('key-cache') ? { keyCacheDir: str('key-cache')! } : {}),
      ...(str('client-id') ? { clientId: str('client-id')! } : {}),
      ...(str('client-secret') ? { clientSecret: str('client-secret')! } : {}),
      success,
      ...(num('wait') ? { waitMs: num('wait')! } : {}),
      ...(num('timeout') ? { timeoutMs: num('timeout')! } : {}),
      ...(num('check-timeout') ? { checkTimeoutMs: num('check-timeout')! } : {}),
      ...(num('max-exchange-delay') ? { maxExchangeDelayMs: num('max-exchange-delay')! } : {}),
      verifyLogin: v['verify-login'] === true,
      browser: v.browser === true,
      ...(str('chromium') ? { chromiumPath: str('chromium')! } : {}),
      only: list(v.only),
      skip: list(v.skip),
    };
  } catch (e) {
    return usage((e as Error).message);
  }

  const json = v.json === true;
  // With --json, stdout carries the report only; everything for people goes to stderr.
  const say = json ? io.err : io.out;
  let report: CheckReport;
  try {
    report = await runCheck(options, {
      onConfig: (c) => {
        for (const line of configLines(c)) say(line);
      },
      onWaiting: (start) => say(`Waiting for the application at ${start.origin} …`),
      onCheck: (r) => io.err(`  ${r.id}: ${r.outcome} (${(r.durationMs / 1000).toFixed(1)} s)`),
    });
  } catch (e) {
    if (e instanceof TypeError) return usage(e.message);
    io.err(`noon-connect check: failed (${e instanceof Error ? e.name : 'error'})`);
    return EXIT.FAILURE;
  }
  const junit = str('junit');
  if (junit) {
    try {
      writeFileSync(junit, renderJunit(report));
    } catch (e) {
      io.err(`noon-connect check: cannot write ${junit} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      return EXIT.FAILURE;
    }
  }
  if (json) io.out(JSON.stringify(report, null, 2));
  else {
    const tty =
      colour === 'always' || (colour === 'auto' && process.stdout.isTTY === true && !process.env.NO_COLOR);
    io.out('');
    for (const line of renderText(report, { colour: tty })) io.out(line);
  }
  return report.ok ? EXIT.OK : EXIT.FAILURE;
}
