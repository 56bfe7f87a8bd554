// App Router route handler for /connect/start, /connect/callback and /connect/done/<id>: Next.js hands it a Web
// Request, and the connect handler answers with a Web Response.

import { handler } from '../../../lib/connect.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

async function connect(request) {
  return (await handler(request)) ?? new Response('not found\n', { status: 404 });
}

export { connect as GET, connect as POST };
