// `noon-connect tokens create|list|revoke`: the REST API's per-tenant tokens, in the store. A new token is printed
// once (the store keeps only its hash); listings show prefixes, tenants, expiry and last use, never a token.

import { auditLog } from '../service/audit.js';
import { ApiTokens, TokenInputError, type TokenView } from '../service/tokens.js';
import type { Store } from '../store/index.js';
import { parseOptions, reportError, table, withContext } from './context.js';
import { EXIT, type Io } from './io.js';

export const TOKENS_USAGE = `Usage: noon-connect tokens create --name <n> (--tenant <t> | --all-tenants) [--expires-days <d>] [--json]
       noon-connect tokens list [--tenant <t>] [--json]
       noon-connect tokens revoke <prefix> [--json]

Manages the REST API's bearer tokens. Each token acts for one tenant (--tenant)
or for every tenant (--all-tenants, which may also manage tokens). A new token
is printed once: the store keeps only its hash. Revoking takes effect on every
instance at once. Reads the same environment variables as serve (the store only).

Options:
  --name <n>           A label for the token (who or what uses it)
  --tenant <t>         The one tenant the token acts for
  --all-tenants        The token acts for every tenant
  --expires-days <d>   The token stops working after this many days (default: never)
  --json               Print JSON instead of text
  -h, --help           Show this help

Exit codes: 0 ok, 2 bad usage, 3 configuration refused, 4 no such token, 1 other failure.`;

const OPTIONS = {
  name: { type: 'string' },
  tenant: { type: 'string' },
  'all-tenants': { type: 'boolean' },
  'expires-days': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function tokensOf(store: Store): ApiTokens {
  return new ApiTokens(store, Date.now);
}

export async function tokensCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? io.err : io.out)(TOKENS_USAGE);
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (sub !== 'create' && sub !== 'list' && sub !== 'revoke') {
    io.err(`noon-connect tokens: unknown subcommand '${sub}'\n\n${TOKENS_USAGE}`);
    return EXIT.USAGE;
  }
  const parsed = parseOptions(`tokens ${sub}`, rest, OPTIONS, TOKENS_USAGE, io, sub === 'revoke');
  if (!parsed) return EXIT.USAGE;
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(TOKENS_USAGE);
    return EXIT.OK;
  }
  const json = values.json === true;
  const usage = (m: string) => {
    io.err(`noon-connect tokens ${sub}: ${m}\n\n${TOKENS_USAGE}`);
    return EXIT.USAGE;
  };
  if (sub === 'create') {
    const tenant = values.tenant as string | undefined;
    if (typeof values.name !== 'string') return usage('--name is required');
    if ((tenant === undefined) === (values['all-tenants'] !== true))
      return usage('give exactly one of --tenant <t> and --all-tenants');
    const daysRaw = values['expires-days'] as string | undefined;
    const days = daysRaw === undefined ? undefined : Number(daysRaw);
    try {
      const created = await withContext({}, async ({ store, logger }) => {
        const made = await tokensOf(store).create({
          name: values.name as string,
          tenant: tenant ?? null,
          expiresInDays: days,
          createdBy: 'cli',
        });
        await auditLog(
          store,
          logger,
          Date.now,
        )({
          actor: 'cli',
          action: 'token-create',
          tenant: made.view.tenant,
          outcome: 'ok',
          detail: `token ${made.view.prefix}`,
        });
        return made;
      });
      if (json) io.out(JSON.stringify({ token: created.token, ...created.view }, null, 2));
      else {
        io.out(created.token);
        io.err(
          `token ${created.view.prefix} for ${created.view.tenant ? `tenant ${created.view.tenant}` : 'all tenants'}: shown once, keep it now`,
        );
      }
      return EXIT.OK;
    } catch (e) {
      if (e instanceof TokenInputError) return usage(e.message);
      return reportError('tokens create', e, io);
    }
  }
  if (sub === 'list') {
    try {
      const tenant = values.tenant as string | undefined;
      const rows: TokenView[] = await withContext({}, ({ store }) =>
        tokensOf(store).list(tenant === undefined ? {} : { tenant }),
      );
      if (json) {
        io.out(JSON.stringify({ tokens: rows }, null, 2));
        return EXIT.OK;
      }
      if (rows.length === 0) {
        io.out('no tokens');
        return EXIT.OK;
      }
      for (const line of table(
        ['PREFIX', 'NAME', 'TENANT', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
        rows.map((t) => [
          t.prefix,
          t.name,
          t.tenant ?? '(all tenants)',
          t.status,
          t.created_at,
          t.expires_at ?? '-',
          t.last_used_at ?? '-',
        ]),
      ))
        io.out(line);
      return EXIT.OK;
    } catch (e) {
      return reportError('tokens list', e, io);
    }
  }
  if (positionals.length !== 1) return usage('give exactly one token prefix (nct_…)');
  const prefix = positionals[0]!;
  try {
    const outcome = await withContext({}, async ({ store, logger }) => {
      const o = await tokensOf(store).revoke(prefix);
      if (o !== 'unknown')
        await auditLog(
          store,
          logger,
          Date.now,
        )({
          actor: 'cli',
          action: 'token-revoke',
          outcome: o,
          detail: `token ${prefix}`,
        });
      return o;
    });
    if (outcome === 'unknown') {
      io.err('noon-connect tokens revoke: no token has that prefix (nct_ and 12 hex digits)');
      return EXIT.NOT_FOUND;
    }
    if (json) io.out(JSON.stringify({ prefix, status: 'revoked', already: outcome === 'already' }, null, 2));
    else io.out(outcome === 'revoked' ? `revoked ${prefix}` : `${prefix} was already revoked`);
    return EXIT.OK;
  } catch (e) {
    return reportError('tokens revoke', e, io);
  }
}
