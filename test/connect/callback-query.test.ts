// The callback's first judgement (C3, C4, C5) on its own: the method, the URL's size and the query's shape,
// with no store, no key and no network. The same refusals over real HTTP are in callback-input.test.ts.

import { describe, expect, it } from 'vitest';
import { MAX_CALLBACK_URL, MAX_QUERY_PARAMS, parseCallbackQuery } from '../../src/connect/callback-query.js';

const BASE = 'https://connect.example/connect/callback';
const get = (query: string) => parseCallbackQuery('GET', `${BASE}?${query}`);

describe('parseCallbackQuery', () => {
  it('a state with a code, or with an error, is read as it is; parameters it does not know are ignored', () => {
    expect(get('state=s1&code=c1&lang=en')).toEqual({
      kind: 'query',
      state: 's1',
      code: 'c1',
      error: undefined,
    });
    expect(get('error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state=s2')).toEqual({
      kind: 'query',
      state: 's2',
      code: undefined,
      error: 'access_denied',
    });
    // Percent-encoding and `+` decode as in any form query.
    expect(get('state=a%2Eb&code=x+y')).toMatchObject({ state: 'a.b', code: 'x y' });
    // Neither a code nor an error is for the caller to judge (it burns the state): the parse lets it through.
    expect(get('state=s3')).toEqual({ kind: 'query', state: 's3', code: undefined, error: undefined });
  });

  it('C5 a method other than GET → 405, whatever the query', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'get']) {
      expect(parseCallbackQuery(method, `${BASE}?state=s&code=c`)).toEqual({
        kind: 'rejected',
        status: 405,
        reason: 'method',
      });
    }
  });

  it('C4 a URL over the limit → 414; an over-long state or code inside it → 400', () => {
    const long = `${BASE}?state=s&code=${'c'.repeat(MAX_CALLBACK_URL)}`;
    expect(parseCallbackQuery('GET', long)).toMatchObject({ status: 414, reason: 'too-long' });
    expect(get(`state=${'s'.repeat(513)}&code=c`)).toMatchObject({ status: 400, reason: 'too-long' });
    expect(get(`state=s&code=${'c'.repeat(2049)}`)).toMatchObject({ status: 400, reason: 'too-long' });
    // At the limits themselves: read.
    expect(get(`state=${'s'.repeat(512)}&code=${'c'.repeat(2048)}`)).toMatchObject({ kind: 'query' });
  });

  it('C4 control characters, raw or percent-encoded (NUL, TAB, CR, LF, DEL), → 400', () => {
    for (const q of [
      'state=s%00&code=c',
      'state=s&code=c%0a',
      'state=s&code=c%0D%0A',
      'state=s%09&code=c',
      'state=s%7F&code=c',
      'state=s%1f&code=c',
      'state=s\u0000&code=c',
      'state=s&code=c\r\n',
    ]) {
      expect(get(q), q).toEqual({ kind: 'rejected', status: 400, reason: 'control-characters' });
    }
  });

  it('C4 percent-encoding that does not decode → 400', () => {
    for (const q of ['state=s&code=%E0%A4%A', 'state=%ff&code=c', 'state=s&code=%', 'state=s%zz&code=c']) {
      expect(get(q), q).toEqual({ kind: 'rejected', status: 400, reason: 'bad-encoding' });
    }
  });

  it('C4 more parameters than the limit → 400; exactly the limit is read', () => {
    const extra = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=1`).join('&');
    expect(get(`state=s&code=c&${extra(MAX_QUERY_PARAMS - 1)}`)).toMatchObject({
      status: 400,
      reason: 'too-many-parameters',
    });
    expect(get(`state=s&code=c&${extra(MAX_QUERY_PARAMS - 2)}`)).toMatchObject({ kind: 'query' });
  });

  it('C5 a token in the callback URL is never accepted: access_token, token or id_token → 400', () => {
    for (const name of ['access_token', 'token', 'id_token']) {
      expect(get(`state=s&code=c&${name}=t`)).toEqual({
        kind: 'rejected',
        status: 400,
        reason: 'token-in-url',
      });
    }
  });

  it('C3 a repeated state, code or error → 400; a missing or empty state → 400', () => {
    for (const q of ['state=a&state=b&code=c', 'state=s&code=a&code=b', 'state=s&error=x&error=y']) {
      expect(get(q), q).toEqual({ kind: 'rejected', status: 400, reason: 'repeated-parameter' });
    }
    for (const q of ['code=c', 'state=&code=c', '']) {
      expect(get(q), q).toEqual({ kind: 'rejected', status: 400, reason: 'no-state' });
    }
    expect(parseCallbackQuery('GET', BASE)).toEqual({ kind: 'rejected', status: 400, reason: 'no-state' });
  });
});
