// Reading the application's answer: whether it reports success (by the configured criterion) and a short,
// secret-free description of it for the evidence sentence.

import type { Answer } from './agent.js';
import type { SuccessCriterion } from './types.js';

function statusMatches(status: number, items: readonly string[]): boolean {
  const s = String(status);
  return items.some((i) => (i.endsWith('xx') ? s[0] === i[0] : s === i));
}

/** The page as a person reads it: tags, scripts and styles dropped, entities decoded, spaces collapsed. */
export function pageText(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

export function claimsSuccess(a: Answer, c: SuccessCriterion): boolean {
  if (a.kind !== 'answer') return false;
  if (!statusMatches(a.status, c.status)) return false;
  if (c.url && !c.url.test(a.url.toString())) return false;
  const text = pageText(a.body);
  if (c.body && !c.body.test(text)) return false;
  if (c.notBody?.test(text)) return false;
  return true;
}

/** The page's title, else its first heading, else its first words; at most 60 characters. */
function headline(html: string): string {
  const pick =
    /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1] ??
    /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1] ??
    html;
  const t = pageText(pick) || pageText(html);
  return t.length > 60 ? `${t.slice(0, 57)}…` : t;
}

const NO_ANSWER: Record<string, string> = {
  timeout: 'did not answer in time',
  closed: 'closed the connection without an answer',
  refused: 'refused the connection (is it still running?)',
  error: 'could not be reached',
};

/** "answered 400 at /connect/callback (“This connect link is not valid”)"; never a query string. */
export function describeAnswer(a: Answer, timeoutMs?: number): string {
  if (a.kind === 'no-answer') {
    const what = NO_ANSWER[a.reason] ?? 'did not answer';
    return `${what}${a.reason === 'timeout' && timeoutMs ? ` (${timeoutMs / 1000} s)` : ''} on GET ${a.url.pathname}`;
  }
  const title = headline(a.body);
  const where = a.leftTo ? `a redirect to ${a.leftTo.origin}${a.leftTo.pathname}` : `at ${a.url.pathname}`;
  return `answered ${a.status} ${where}${title ? ` (“${title}”)` : ''}`;
}
