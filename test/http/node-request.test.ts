// The node:http conversion's request: `text()` reads the body straight from the node stream and behaves as a Fetch
// Request's (decoding, one read only, the 64 KiB limit), the other body members still work through a Fetch stream,
// and the path and target are kept from the conversion.

import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY, requestPath, requestTargetOf, toWebRequest } from '../../src/http/node.js';
import { isPlainTarget } from '../../src/http/target.js';

type Probe = (r: Request) => Promise<unknown>;

describe('node:http conversion: the request body and path', () => {
  let server: Server;
  let port: number;
  let probe: Probe = async () => null;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      void toWebRequest(req, 'http://app.example')
        .then((r) => probe(r))
        .then(
          (v) => ({ ok: v }),
          (e: Error) => ({ error: `${e.name}: ${e.message}` }),
        )
        .then((out) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(out));
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** Sends `chunks` as the body of one request (each written on its own, a moment apart) and answers the probe's result. */
  async function send(
    method: string,
    path: string,
    chunks: (string | Buffer)[],
    p: Probe,
  ): Promise<{ ok?: unknown; error?: string }> {
    probe = p;
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
      void (async () => {
        for (const c of chunks) {
          req.write(c);
          await new Promise((r) => setTimeout(r, 5));
        }
        req.end();
      })();
    });
  }

  it('text() decodes the whole body as Fetch does: a character split across chunks, a leading BOM dropped', async () => {
    const bytes = Buffer.from('\ufeff{"name":"café ☕"}', 'utf8');
    const cut = bytes.indexOf(0xe2) + 1;
    const out = await send('POST', '/a', [bytes.subarray(0, cut), bytes.subarray(cut)], (r) => r.text());
    expect(out).toEqual({ ok: '{"name":"café ☕"}' });
  });

  it('the body is read once: a second text() is refused, bodyUsed is true, a copy cannot be made', async () => {
    const out = await send('POST', '/a', ['hello'], async (r) => {
      const first = await r.text();
      const again = await r.text().then(
        () => 'read again',
        (e: Error) => e.name,
      );
      let copy = 'copied';
      try {
        new Request(r);
      } catch (e) {
        copy = (e as Error).name;
      }
      return { first, again, used: r.bodyUsed, copy, isRequest: r instanceof Request };
    });
    expect(out).toEqual({
      ok: { first: 'hello', again: 'TypeError', used: true, copy: 'TypeError', isRequest: true },
    });
  });

  it('past 64 KiB text() fails with a RangeError and the answer still goes out', async () => {
    const out = await send('POST', '/a', ['x'.repeat(MAX_BODY), 'y'.repeat(1024)], (r) => r.text());
    expect(out.error).toMatch(/^RangeError/);
  });

  it('a body read through its stream or arrayBuffer() works as before; text() afterwards is refused', async () => {
    const out = await send('PUT', '/a', ['ab', 'cd'], async (r) => {
      const bytes = new Uint8Array(await r.arrayBuffer());
      const after = await r.text().then(
        () => 'read again',
        (e: Error) => e.name,
      );
      return { body: Buffer.from(bytes).toString('utf8'), after };
    });
    expect(out).toEqual({ ok: { body: 'abcd', after: 'TypeError' } });
  });

  it('a GET has no body: text() is empty', async () => {
    const out = await send('GET', '/a', [], async (r) => ({ text: await r.text(), used: r.bodyUsed }));
    expect(out).toEqual({ ok: { text: '', used: false } });
  });

  it('the path and the request target are kept from the conversion', async () => {
    const out = await send('GET', '/api/connections/x?tenant=a%20b', [], async (r) => ({
      path: requestPath(r),
      parsed: new URL(r.url).pathname,
      target: requestTargetOf(r),
      url: r.url,
    }));
    expect(out).toEqual({
      ok: {
        path: '/api/connections/x',
        parsed: '/api/connections/x',
        target: '/api/connections/x?tenant=a%20b',
        url: 'http://app.example/api/connections/x?tenant=a%20b',
      },
    });
    expect(requestPath(new Request('http://other.example/p/q?x=1'))).toBe('/p/q');
    expect(requestTargetOf(new Request('http://other.example/p'))).toBeUndefined();
  });
});

describe('plain request targets', () => {
  /** The rule as URL parsing states it, without the shortcut for the common case. */
  const byParsing = (target: string) => {
    if (!target.startsWith('/') || target.startsWith('//') || target.includes('\\')) return false;
    const end = target.search(/[?#]/);
    const path = end < 0 ? target : target.slice(0, end);
    try {
      return new URL(`http://target.invalid${path}`).pathname === path;
    } catch {
      return false;
    }
  };

  it('the shortcut answers as parsing would', () => {
    const targets = [
      '/',
      '/api/connections/7d3c2a4e-1111-4222-8333-944455556666/proxy',
      '/connect/callback?code=a&state=b',
      '/a/b/',
      '/a.b/c~d_e-f',
      '/a..',
      '/.well-known/x',
      '/a/./b',
      '/a/../b',
      '/a/%2e%2e/b',
      '/a/.%2E/b',
      '/a//b',
      '//host/a',
      '/a\\b',
      '/a b',
      '/caf\u00e9',
      '/a%20b',
      '/a?x=../..',
      'a/b',
      '',
    ];
    for (const t of targets) expect(isPlainTarget(t), t).toBe(byParsing(t));
  });
});
