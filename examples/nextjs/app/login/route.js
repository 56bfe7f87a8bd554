// A stand-in for your own sign-in: /login?user=acme sets the `user` cookie the connect handler reads.

export const dynamic = 'force-dynamic';

export function GET(request) {
  const user = (new URL(request.url).searchParams.get('user') ?? '').replace(/[^A-Za-z0-9_-]/g, '');
  return new Response(null, {
    status: 303,
    headers: { location: '/', 'set-cookie': `user=${user}; HttpOnly; SameSite=Lax; Path=/` },
  });
}
