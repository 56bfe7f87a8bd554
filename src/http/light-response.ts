// A Response whose body is a string known up front: the adapters that can write it directly (node:http) skip
// building a Fetch Response and reading its body stream; anything else that touches it gets a real Response,
// built once. On Node 20 that build-and-read is most of the cost of answering a forged callback.

import { deferredPrototype } from './deferred.js';

const LIGHT = Symbol('noon-connect.light-response');

interface LightFields {
  status: number;
  headers: Record<string, string>;
  body: string;
  real: Response | undefined;
}

type Light = Response & { [LIGHT]: LightFields };

function realOf(r: Light): Response {
  const f = r[LIGHT];
  f.real ??= new Response(f.body, { status: f.status, headers: f.headers });
  return f.real;
}

const lightPrototype: object = (() => {
  const proto = deferredPrototype(Response, new Response(null), (r) => realOf(r as Light));
  Object.defineProperty(proto, 'status', {
    configurable: true,
    get(this: Light) {
      return this[LIGHT].status;
    },
  });
  return proto;
})();

/** A Response for a string body; `instanceof Response` holds and every member behaves as on a real one. */
export function lightResponse(body: string, status: number, headers: Record<string, string>): Response {
  return Object.create(lightPrototype, {
    [LIGHT]: { value: { status, headers, body, real: undefined } satisfies LightFields },
  }) as Response;
}

/** The status, headers and body of a light response nothing has turned into a real one yet; else undefined. */
export function lightParts(
  r: Response,
): { status: number; headers: Record<string, string>; body: string } | undefined {
  const f = (r as Partial<Light>)[LIGHT];
  return f && !f.real ? f : undefined;
}
