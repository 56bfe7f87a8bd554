// Where the seller comes back to: the tenant's connections (metadata only, never a key).

import { connectionsOf, tenantOf } from '../../../lib/connect.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export async function GET(request) {
  const tenant = tenantOf(request.headers.get('cookie'));
  if (!tenant) return new Response('sign in first\n', { status: 401 });
  const status = new URL(request.url).searchParams.get('connect_status');
  return Response.json({ status, connections: await connectionsOf(tenant) });
}
