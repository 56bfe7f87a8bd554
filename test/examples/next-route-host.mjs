// Serves a Next.js App Router app's route handlers as Web handlers on node:http, without Next.js itself: each
// request goes to the route.js whose folder matches its path (a `[...name]` folder takes the rest of the path),
// and the GET/POST it exports answers it. The examples test runs the Next.js example through this (a `next build`
// is too slow for every test run on a small CI machine); the handlers are the files a Next.js app would serve.
// Usage: node next-route-host.mjs <app folder> (PORT from the environment).

import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sendWebResponse, toWebRequest } from 'noon-connect/http';

const appDir = process.argv[2];

function routeFile(pathname) {
  const parts = pathname.split('/').filter(Boolean);
  let dir = appDir;
  for (let i = 0; i < parts.length; i++) {
    if (existsSync(join(dir, parts[i]))) {
      dir = join(dir, parts[i]);
      continue;
    }
    const catchAll = readdirSync(dir).find((d) => /^\[\.\.\.[^\]]+\]$/.test(d));
    if (!catchAll) return undefined;
    dir = join(dir, catchAll);
    break;
  }
  const file = join(dir, 'route.js');
  return existsSync(file) ? file : undefined;
}

const port = Number(process.env.PORT ?? 3000);
createServer(async (req, res) => {
  try {
    const request = await toWebRequest(req, `http://127.0.0.1:${port}`);
    const file = routeFile(new URL(request.url).pathname);
    const route = file ? await import(pathToFileURL(file).href) : undefined;
    const fn = route?.[request.method];
    const response = fn ? await fn(request) : new Response('not found\n', { status: 404 });
    await sendWebResponse(res, response);
  } catch (e) {
    console.error(e);
    res.destroy();
  }
}).listen(port, '127.0.0.1', () => console.log(`nextjs example on http://127.0.0.1:${port}`));
