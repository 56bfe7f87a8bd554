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

export function catalogItems(req: SandboxRequest, ctx: Context): SandboxResponse {
  const s = requireSession(req, ctx);
  const res = json(200, { project_code: s.projectCode, items: catalogFor(s.projectCode) });
  res.project = s.projectCode;
  return res;
}
