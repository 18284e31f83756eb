// What the web endpoint serves over plain HTTP(S), from local files only: the browser client at
// /opennetworks.js (dist/browser, npm run build:browser), the Pyodide runtime under /pyodide/
// (the pyodide npm package), the pure-Python package as /py/opennetworks.zip, the join page and
// the Python page /pyodide.html. A page needs no network beyond the coordinator.
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WEB } from '../gen/web.js';
import { PY_ZIP_PATH, pyFiles, storedZip } from './py_package.js';
import { PYODIDE_PAGE_PATH, pyodidePage } from './pyodide_page.js';

/** The package root: the nearest folder above this module that has a package.json. */
function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}
const ROOT = packageRoot();
export const CLIENT_FILE = join(ROOT, 'dist', 'browser', 'opennetworks.js');
const PYODIDE_DIR = join(ROOT, 'node_modules', 'pyodide');
const PY_PACKAGE_DIR = join(ROOT, 'python', 'opennetworks');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.html': 'text/html; charset=utf-8',
  '.whl': 'application/zip',
  '.tar': 'application/x-tar',
};

function file(res: ServerResponse, path: string, hint: string): void {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`not found: ${hint}\n`);
    return;
  }
  const ext = path.slice(path.lastIndexOf('.'));
  res.writeHead(200, {
    'content-type': TYPES[ext] ?? 'application/octet-stream',
    'content-length': size,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  createReadStream(path).pipe(res);
}

/** The join page: loads the client, joins with the URL's fragment, exposes `window.onet`. */
export function joinPage(): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>OpenNetworks rank</title></head>
<body><h1>OpenNetworks</h1><p id="state">joining…</p>
<script type="module">
import { join } from '/opennetworks.js';
const state = document.getElementById('state');
window.onet = { comm: null, error: null };
window.onet.ready = join(location.href).then((comm) => {
  window.onet.comm = comm;
  state.textContent = 'rank ' + comm.rank + ' of ' + comm.world + ' in job ' + comm.job + ': joined';
  return comm;
}, (e) => {
  window.onet.error = { code: e.code, message: e.message, ranks: e.ranks };
  state.textContent = 'could not join: ' + e.code + ': ' + e.message;
  throw e;
});
</script></body></html>
`;
}

/** The pure-Python package (its .py files only) as a zip, built now from python/opennetworks. */
function servePackage(res: ServerResponse): void {
  let zip: Buffer;
  try {
    const files = pyFiles(PY_PACKAGE_DIR);
    if (!files.length) throw new Error('no .py files');
    zip = storedZip(files);
  } catch (e) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`not found: the Python package (${PY_PACKAGE_DIR}: ${(e as Error).message})\n`);
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/zip',
    'content-length': zip.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(zip);
}

/** Answer one HTTP request; false when the path is none of ours. */
export function serveStatic(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/opennetworks.js') {
    file(res, CLIENT_FILE, 'the browser client; run npm run build:browser');
    return true;
  }
  if (path === WEB.joinPath) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(joinPage());
    return true;
  }
  if (path === PYODIDE_PAGE_PATH) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(pyodidePage());
    return true;
  }
  if (path === PY_ZIP_PATH) {
    servePackage(res);
    return true;
  }
  const m = /^\/pyodide\/([A-Za-z0-9._-]+)$/.exec(path);
  if (m && !m[1].startsWith('.')) {
    file(res, join(PYODIDE_DIR, m[1]), `/pyodide/${m[1]} (is the pyodide npm package installed?)`);
    return true;
  }
  return false;
}
