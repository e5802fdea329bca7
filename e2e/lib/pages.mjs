// A tiny static HTTP server on 127.0.0.1 for the test pages: /<name>.html
// from e2e/pages and /sdk/<file> from the installed sora-js-sdk package.
// The pages are not served by Hayate so that the tests do not depend on the
// try-it page.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { e2eDir, sdkDir } from './server.mjs';

const pagesDir = path.join(e2eDir, 'pages');

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

function resolveInside(dir, rel) {
  const file = path.resolve(dir, rel);
  return file.startsWith(dir + path.sep) ? file : null;
}

/** Starts the page server; resolves to {url, close()}. */
export async function startPageServer() {
  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file = null;
    if (url.pathname.startsWith('/sdk/')) {
      file = resolveInside(sdkDir, decodeURIComponent(url.pathname.slice(5)));
    } else if (/^\/[a-z0-9_-]+\.html$/.test(url.pathname)) {
      file = resolveInside(pagesDir, url.pathname.slice(1));
    }
    if (!file || req.method !== 'GET') {
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'Content-Type': types[path.extname(file)] || 'application/octet-stream',
        'Cache-Control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => {
      srv.closeAllConnections?.();
      srv.close(() => resolve());
    }),
  };
}
