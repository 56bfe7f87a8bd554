// The first judgement of Noon's redirect back: the method, the URL's size and the query's shape, from the
// request line alone. Pure (no store, no key, no clock), so every refusal is tested on its own (C3, C4, C5).

/** The longest callback URL read at all. */
export const MAX_CALLBACK_URL = 4096;
/** More query parameters than this is not a redirect Noon sends. */
export const MAX_QUERY_PARAMS = 20;
const MAX_STATE = 512;
const MAX_CODE = 2048;

/** A callback refused before anything else is looked at, and the status the HTTP layer answers. */
export interface CallbackRejection {
  kind: 'rejected';
  status: 400 | 405 | 414;
  reason:
    | 'method'
    | 'too-long'
    | 'control-characters'
    | 'too-many-parameters'
    | 'bad-encoding'
    | 'token-in-url'
    | 'repeated-parameter'
    | 'no-state';
}

/** What a well-formed callback query says: a state, and either a code or an `error` (or, wrongly, neither). */
export interface CallbackQuery {
  kind: 'query';
  state: string;
  code: string | undefined;
  error: string | undefined;
}

function reject(reason: CallbackRejection['reason'], status: CallbackRejection['status'] = 400) {
  return { kind: 'rejected', status, reason } as const satisfies CallbackRejection;
}

/** Reads one query parameter that must appear at most once (null when repeated). */
function once(params: URLSearchParams, name: string): string | undefined | null {
  const all = params.getAll(name);
  return all.length > 1 ? null : all[0];
}

/** Parses the callback's request line; anything it refuses never reaches the state check or the store. */
export function parseCallbackQuery(method: string, url: string): CallbackQuery | CallbackRejection {
  if (method !== 'GET') return reject('method', 405);
  if (url.length > MAX_CALLBACK_URL) return reject('too-long', 414);
  const q = url.indexOf('?');
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  // NUL, CR, LF or other control characters, raw or encoded, and bad percent-encoding end it here (C4).
  if (/[\u0000-\u001f\u007f]/.test(rawQuery) || /%(0[0-9a-f]|1[0-9a-f]|7f)/i.test(rawQuery))
    return reject('control-characters');
  const pairs = rawQuery === '' ? [] : rawQuery.split('&');
  if (pairs.length > MAX_QUERY_PARAMS) return reject('too-many-parameters');
  for (const pair of pairs) {
    try {
      decodeURIComponent(pair.replace(/\+/g, ' '));
    } catch {
      return reject('bad-encoding');
    }
  }
  const params = new URLSearchParams(rawQuery);
  // A token in the callback URL is never ours to accept (C5).
  if (params.has('access_token') || params.has('token') || params.has('id_token'))
    return reject('token-in-url');
  const state = once(params, 'state');
  const code = once(params, 'code');
  const error = once(params, 'error');
  if (state === null || code === null || error === null) return reject('repeated-parameter');
  if (!state) return reject('no-state');
  if (state.length > MAX_STATE || (code !== undefined && code.length > MAX_CODE)) return reject('too-long');
  return { kind: 'query', state, code, error };
}
