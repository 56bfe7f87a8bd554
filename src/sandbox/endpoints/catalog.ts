// GET /catalog/v1/items: a stand-in business API answering per project, so seller sessions and isolation
// between sellers can be exercised (NC41).

import { createHash } from 'node:crypto';
import { type Context, requireSession } from '../context.js';
import { json, type SandboxRequest, type SandboxResponse } from '../http.js';

const WORDS = ['Dune', 'Palm', 'Falcon', 'Amber', 'Cedar', 'Saffron', 'Pearl', 'Oud', 'Henna', 'Date'];
const THINGS = ['Lamp', 'Rug', 'Kettle', 'Scarf', 'Mug', 'Tray', 'Candle', 'Basket', 'Cushion', 'Vase'];

/** Deterministic items for a project: the same project always sees the same list, and only its own. */
export function catalogFor(
  projectCode: string,
): { sku: string; title: string; price: string; currency: string }[] {
  const h = createHash('sha256').update(projectCode).digest();
  const n = 3 + (h[0]! % 4);
  return Array.from({ length: n }, (_, i) => {
    const a = h[(i * 3 + 1) % h.length]!;
    const b = h[(i * 3 + 2) % h.length]!;
    return {
      sku: `${projectCode}-SKU-${String(i + 1).padStart(3, '0')}`,
      title: `${WORDS[a % WORDS.length]} ${THINGS[b % THINGS.length]}`,
      price: (((a * 7 + b) % 500) + 9.95).toFixed(2),
      currency: 'AED',
    };
  });
}

/** Answer bodies by project: a project's list never changes, so it is built and serialized once. */
const bodies = new Map<string, string>();
const MAX_CACHED_BODIES = 1024;

export function catalogItems(req: SandboxRequest, ctx: Context): SandboxResponse {
  const s = requireSession(req, ctx);
  let body = bodies.get(s.projectCode);
  if (body === undefined) {
    body = json(200, { project_code: s.projectCode, items: catalogFor(s.projectCode) }).body as string;
    if (bodies.size >= MAX_CACHED_BODIES) bodies.clear();
    bodies.set(s.projectCode, body);
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, body, project: s.projectCode };
}
