// The dashboard's addresses: which path is which page or action, the methods each answers, and where sign-in
// may send the browser back to.

/** Where a finished connect flow sends the browser back to. */
export const RETURN_PATH = '/connections';

export type DashboardRouteName =
  | 'home'
  | 'connection'
  | 'attempts'
  | 'attention'
  | 'events'
  | 'sign-in'
  | 'sign-out'
  | 'connect-seller'
  | 'test'
  | 'rotate'
  | 'disconnect'
  | 'reconnect'
  | 'resolve'
  | 'tokens'
  | 'token-revoke'
  | 'audit';

export interface DashboardRoute {
  name: DashboardRouteName;
  methods: readonly ('GET' | 'POST')[];
  /**
   * The connection a `/connections/{id}…` address names (the attempt, for `/attempts/{id}/resolve`; the token's
   * prefix, for `/tokens/{prefix}/revoke`).
   */
  id?: string;
}

const CONNECTION_ACTIONS: Record<string, DashboardRouteName> = {
  test: 'test',
  rotate: 'rotate',
  disconnect: 'disconnect',
  reconnect: 'reconnect',
};

export function matchRoute(path: string): DashboardRoute | undefined {
  switch (path) {
    case '/':
    case RETURN_PATH:
      return { name: 'home', methods: ['GET'] };
    case '/attempts':
      return { name: 'attempts', methods: ['GET'] };
    case '/attention':
      return { name: 'attention', methods: ['GET'] };
    case '/events':
      return { name: 'events', methods: ['GET'] };
    case '/sign-in':
      return { name: 'sign-in', methods: ['GET', 'POST'] };
    case '/sign-out':
      return { name: 'sign-out', methods: ['POST'] };
    case '/connect-seller':
      return { name: 'connect-seller', methods: ['POST'] };
    case '/tokens':
      return { name: 'tokens', methods: ['GET', 'POST'] };
    case '/audit':
      return { name: 'audit', methods: ['GET'] };
  }
  const revoke = /^\/tokens\/(nct_[0-9a-f]{12})\/revoke$/.exec(path);
  if (revoke) return { name: 'token-revoke', methods: ['POST'], id: revoke[1]! };
  const resolve = /^\/attempts\/([0-9a-f-]{36})\/resolve$/.exec(path);
  if (resolve) return { name: 'resolve', methods: ['POST'], id: resolve[1]! };
  const m = /^\/connections\/([A-Za-z0-9-]{1,64})(?:\/(test|rotate|disconnect|reconnect))?$/.exec(path);
  if (!m) return undefined;
  const id = m[1]!;
  if (!m[2]) return { name: 'connection', methods: ['GET'], id };
  // The disconnect address answers GET with a confirmation page and POST with the disconnection itself.
  if (m[2] === 'disconnect') return { name: 'disconnect', methods: ['GET', 'POST'], id };
  return { name: CONNECTION_ACTIONS[m[2]]!, methods: ['POST'], id };
}

/** A path inside the dashboard to come back to after signing in; anything else is `/`. */
export function safeNext(raw: string | null): string {
  if (!raw || raw.length > 512 || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\'))
    return '/';
  let u: URL;
  try {
    u = new URL(raw, 'http://dashboard.invalid');
  } catch {
    return '/';
  }
  if (u.origin !== 'http://dashboard.invalid') return '/';
  const r = matchRoute(u.pathname);
  if (!r?.methods.includes('GET') || r.name === 'sign-in') return '/';
  return `${u.pathname}${u.search}`;
}
