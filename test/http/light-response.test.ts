// The light stand-ins behave as the real Fetch objects to anything that touches them: the Response used for result
// pages and API answers, and the Headers of a converted node request.

import { describe, expect, it } from 'vitest';
import { headersFromRaw, lightHeaders } from '../../src/http/light-headers.js';
import { lightParts, lightResponse } from '../../src/http/light-response.js';

describe('light response', () => {
  it('is a Response: status, headers, body, clone and text behave as on a real one', async () => {
    const r = lightResponse('<p>hi</p>', 400, { 'content-type': 'text/html', 'x-a': '1' });
    expect(r).toBeInstanceOf(Response);
    expect(lightParts(r)).toEqual({
      status: 400,
      headers: { 'content-type': 'text/html', 'x-a': '1' },
      body: '<p>hi</p>',
      real: undefined,
    });
    expect(r.status).toBe(400);
    expect(r.ok).toBe(false);
    expect(r.headers.get('x-a')).toBe('1');
    // Once something used it as a real Response, the fast path is off (the body may have been read).
    expect(lightParts(r)).toBeUndefined();
    const c = r.clone();
    expect(await c.text()).toBe('<p>hi</p>');
    expect(await r.text()).toBe('<p>hi</p>');
    expect(r.bodyUsed).toBe(true);
  });
});

describe('light headers', () => {
  const pairs = (h: Headers) => {
    const out: [string, string][] = [];
    h.forEach((v, k) => {
      out.push([k, v]);
    });
    return out;
  };
  const raw = [
    'Host',
    '127.0.0.1:8787',
    'X-Two',
    ' one ',
    'x-two',
    'two\t',
    'Set-Cookie',
    'a=1',
    'set-cookie',
    'b=2',
    'Bad Name',
    'dropped',
    'X-Nul',
    'a\u0000b',
    'X-Wide',
    'caf\u0101',
    'X-Empty',
    '',
    'Authorization',
    'Bearer abc',
  ];

  it('get and has answer as Fetch Headers built from the same list would (trimmed, joined, refusals dropped)', () => {
    const light = lightHeaders(raw);
    const real = headersFromRaw(raw);
    expect(light).toBeInstanceOf(Headers);
    expect(Object.prototype.toString.call(light)).toBe('[object Headers]');
    for (const name of [
      'host',
      'HOST',
      'x-two',
      'set-cookie',
      'x-nul',
      'x-wide',
      'x-empty',
      'authorization',
      'nope',
    ]) {
      expect(light.get(name), name).toBe(real.get(name));
      expect(light.has(name), name).toBe(real.has(name));
    }
    expect(light.get('x-two')).toBe('one, two');
    expect(() => light.get('bad name')).toThrow(TypeError);
  });

  it('every other member is the real Headers’: iteration, getSetCookie, changes, and as a Request’s init', () => {
    const light = lightHeaders(raw);
    expect(pairs(light)).toEqual(pairs(headersFromRaw(raw)));
    expect(light.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(new Request('http://localhost/', { headers: light }).headers.get('x-two')).toBe('one, two');
    expect(new Headers(light).get('authorization')).toBe('Bearer abc');
    light.set('x-two', 'three');
    light.delete('authorization');
    expect(light.get('x-two')).toBe('three');
    expect(light.has('authorization')).toBe(false);
  });
});
