// The light Response used for result pages behaves as a real Response to anything that touches it.

import { describe, expect, it } from 'vitest';
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
