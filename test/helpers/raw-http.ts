// Requests written byte for byte on a fresh connection, for inputs a fetch would refuse or normalize (raw CR/LF,
// NUL, a megabyte URL): the server gets exactly what the test wrote, and the test gets whatever answer came back.

import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface RawAnswer {
  /** 0 when the server closed the connection without an answer. */
  status: number;
  /** The response head as sent (status line and header lines). */
  head: string;
  body: string;
  /** The socket error, if the connection broke (e.g. the server closed while the request was being written). */
  error?: string;
}

/**
 * One request written byte for byte on a fresh connection, so a target fetch would refuse or normalize (raw
 * CR/LF, NUL, a megabyte URL) reaches the server exactly as given. Resolves with whatever answer arrived.
 */
export function rawRequest(
  origin: string,
  requestBytes: string | Buffer,
  o: { ca?: string; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const u = new URL(origin);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket =
      u.protocol === 'https:'
        ? tlsConnect({
            host: u.hostname,
            port: Number(u.port),
            servername: 'localhost',
            ...(o.ca ? { ca: o.ca } : {}),
          })
        : netConnect({ host: u.hostname, port: Number(u.port) });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), o.timeoutMs ?? 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => {
      error ??= (e as NodeJS.ErrnoException).code ?? e.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('latin1');
      const end = all.indexOf('\r\n\r\n');
      const head = end < 0 ? all : all.slice(0, end);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: end < 0 ? '' : all.slice(end + 4), ...(error ? { error } : {}) });
    });
    // No half-close: every request here says `Connection: close` (or is refused outright), so the server closes
    // once it has answered, however long the answer takes.
    socket.write(requestBytes);
  });
}

/** A GET request head for `target` on `origin`, with optional extra header lines. */
export function rawGet(origin: string, target: string, headers: Record<string, string> = {}): string {
  const u = new URL(origin);
  const lines = [`GET ${target} HTTP/1.1`, `Host: ${u.host}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
