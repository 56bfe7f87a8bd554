// Who may start a connect through the service: the bearer of a valid connect link, within the service's limits.
// A client address gets a number of starts per minute; a link gets its number of starts (one by default), counted
// in the store; an e-mail-safe link shows a Continue button on GET and starts only on the POST it sends.

import { htmlResponse, outcomePage, type StartParams } from '../http/index.js';
import type { ServiceContext } from './service.js';

const MINUTE_MS = 60_000;
const MAX_FORM_BYTES = 4096;

/** The link token of a start request: the query's `t` on GET, the form's `t` on POST (the Continue button). */
async function linkToken(request: Request): Promise<string | null> {
  const query = new URL(request.url).searchParams.get('t');
  if (request.method !== 'POST') return query;
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return query;
  try {
    const text = await request.text();
    if (text.length > MAX_FORM_BYTES) return null;
    return new URLSearchParams(text).get('t') ?? query;
  } catch {
    return null;
  }
}

function invalidLink(): Response {
  return htmlResponse(
    400,
    outcomePage('invalid_link', {
      detail: 'This connect link is not valid or has expired. Ask for a new one.',
    }),
  );
}

/**
 * The service's `authorizeStart`: per-client limit first (a flood of links, valid or not, is a flood), then the
 * link's signature and expiry, the Continue step of an e-mail-safe link, and last the link's own count of starts.
 */
export function serviceStartAuthorizer(
  ctx: ServiceContext,
): (request: Request) => Promise<StartParams | Response> {
  const { config, links, limits, logger, metrics } = ctx;
  return async (request) => {
    const client = ctx.clientAddress(request);
    const limit = await limits.hit(`start:addr:${client}`, config.startLimitPerMinute, MINUTE_MS);
    if (!limit.allowed) {
      logger.warn({ connect: 'start', limit: 'client' }, 'connect start refused: too many from one client');
      return htmlResponse(
        429,
        {
          title: 'Too many attempts',
          tone: 'bad',
          lines: [
            'Too many connect attempts came from your address. Wait a minute, then open your link again.',
          ],
        },
        { 'retry-after': String(limit.retryAfterS) },
      );
    }
    const token = await linkToken(request);
    const link = links.read(token);
    if (!link) return invalidLink();
    if (link.confirm && request.method !== 'POST') {
      // Mail scanners open every link they see: a GET shows this page and counts nothing.
      return htmlResponse(200, {
        title: 'Connect your noon account',
        tone: 'neutral',
        lines: ['Continue to sign in on noon and choose the project to connect.'],
        form: { action: new URL(request.url).pathname, fields: { t: token! }, label: 'Continue' },
      });
    }
    if (!(await links.consume(link))) {
      logger.info({ connect: 'start', tenant: link.params.tenant }, 'connect link used up');
      return htmlResponse(
        410,
        outcomePage('link_used', {
          returnTo: link.params.returnTo,
          detail:
            links.maxStarts === 1
              ? 'Each connect link starts one connection, and this one has been used. Ask for a new link.'
              : 'This connect link has been used as many times as it allows. Ask for a new link.',
        }),
      );
    }
    metrics.connectsStarted.inc();
    return link.params;
  };
}
