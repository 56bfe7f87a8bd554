// The connect handler a Next.js app shares between its route handlers (one connector per server process).

import { createConnectHandler } from 'noon-connect/http';
import { connector, tenantOf } from '../../shared/noon.mjs';

export { connectionsOf } from '../../shared/noon.mjs';
export { tenantOf };

export const handler = createConnectHandler({
  connector,
  authorizeStart: (request) => {
    const tenant = tenantOf(request.headers.get('cookie'));
    if (!tenant) return new Response('sign in first\n', { status: 401 });
    return { tenant, returnTo: '/settings/noon' };
  },
  onError: (e) => console.error('connect error', e),
});
