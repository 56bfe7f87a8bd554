// Request headers read straight from a node request's raw header list: `get` and `has` (all the handlers here ask
// of a request's headers) answer from a pass over that list, without building a Fetch Headers; any other member
// builds the real Headers once and answers from it, so `instanceof Headers` and every behaviour stay Fetch's.

import { deferredPrototype } from './deferred.js';

const RAW = Symbol('noon-connect.light-headers');

interface RawFields {
  /** Node's raw header list: name, value, name, value, … as the client sent them. */
  raw: readonly string[];
  real: Headers | undefined;
}

type Light = Headers & { [RAW]: RawFields };

/** A header name Fetch accepts (an HTTP token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Fetch refuses in a value (after trimming): NUL, CR, LF, or a character that is not a byte. */
const BAD_VALUE = /[\0\r\n]|[^\0-\xff]/;
/** Leading and trailing HTTP whitespace, which Fetch trims from every value. */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/** The Headers Fetch would build from the raw list: a header it refuses is dropped, as the adapter always did. */
export function headersFromRaw(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch {
      // A header Fetch refuses (invalid characters) is dropped, not fatal.
    }
  }
  return headers;
}

function realOf(h: Light): Headers {
  const f = h[RAW];
  f.real ??= headersFromRaw(f.raw);
  return f.real;
}

/** Fetch's value of a header: trimmed of HTTP whitespace; undefined when Fetch would have refused it. */
function fetchValue(raw: string): string | undefined {
  const first = raw.charCodeAt(0);
  const last = raw.charCodeAt(raw.length - 1);
  const v =
    first === 32 ||
    first === 9 ||
    first === 10 ||
    first === 13 ||
    last === 32 ||
    last === 9 ||
    last === 10 ||
    last === 13
      ? raw.replace(EDGE_WHITESPACE, '')
      : raw;
  return BAD_VALUE.test(v) ? undefined : v;
}

/** The value `get(name)` answers for a lower-case token: every entry of that name, joined with `, ` as Fetch does. */
function lookup(raw: readonly string[], lower: string): string | null {
  let out: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== lower.length || (name !== lower && name.toLowerCase() !== lower)) continue;
    if (!TOKEN.test(name)) continue;
    const v = fetchValue(raw[i + 1]!);
    if (v === undefined) continue;
    out = out === null ? v : `${out}, ${v}`;
  }
  return out;
}

const lightPrototype: object = (() => {
  const proto = deferredPrototype(Headers, new Headers(), (h) => realOf(h as Light));
  Object.defineProperties(proto, {
    get: {
      configurable: true,
      writable: true,
      value(this: Light, name: string): string | null {
        const f = this[RAW];
        // A changed or a malformed name's answer (an error) is the real Headers'.
        if (f.real || typeof name !== 'string' || !TOKEN.test(name)) return realOf(this).get(name);
        return lookup(f.raw, name.toLowerCase());
      },
    },
    has: {
      configurable: true,
      writable: true,
      value(this: Light, name: string): boolean {
        const f = this[RAW];
        if (f.real || typeof name !== 'string' || !TOKEN.test(name)) return realOf(this).has(name);
        return lookup(f.raw, name.toLowerCase()) !== null;
      },
    },
  });
  return proto;
})();

function make(raw: readonly string[]): Headers {
  return Object.create(lightPrototype, {
    [RAW]: { value: { raw, real: undefined } satisfies RawFields },
  }) as Headers;
}

/**
 * Whether this runtime's Fetch takes the stand-in where it expects Headers (`new Headers(it)`, a Request's
 * `headers` init). Where it does not, {@link lightHeaders} builds the real Headers at once.
 */
const accepted: boolean = (() => {
  try {
    const h = make(['X-Probe', 'yes']);
    return (
      new Headers(h).get('x-probe') === 'yes' &&
      new Request('http://localhost/', { headers: h }).headers.get('x-probe') === 'yes'
    );
  } catch {
    return false;
  }
})();

/** Headers for a node request's raw header list; `get` and `has` answer without building a Fetch Headers. */
export function lightHeaders(raw: readonly string[]): Headers {
  return accepted ? make(raw) : headersFromRaw(raw);
}
