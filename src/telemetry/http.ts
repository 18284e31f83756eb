// The telemetry HTTP server: Prometheus /metrics, the dashboard (static files from
// src/telemetry/dashboard, uPlot from node_modules — nothing from the network), its SSE feed
// and a JSON snapshot. Bound to 127.0.0.1 unless ONET_METRICS_HOST says otherwise.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { OnetError } from '../errors.js';
import type { SseHub } from './sse.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/telemetry/http.js and src/telemetry/http.ts both find the sources' dashboard folder.
const DASH = join(here, '..', '..', 'src', 'telemetry', 'dashboard');
const UPLOT = dirname(createRequire(import.meta.url).resolve('uplot'));

const FILES: Record<string, [string, string]> = {
  '/': [join(DASH, 'index.html'), 'text/html; charset=utf-8'],
  '/index.html': [join(DASH, 'index.html'), 'text/html; charset=utf-8'],
  '/app.js': [join(DASH, 'app.js'), 'text/javascript; charset=utf-8'],
  '/style.css': [join(DASH, 'style.css'), 'text/css; charset=utf-8'],
  '/vendor/uplot.js': [join(UPLOT, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/vendor/uplot.css': [join(UPLOT, 'uPlot.min.css'), 'text/css; charset=utf-8'],
};

export interface HttpDeps {
  registry: Registry;
  sse: SseHub;
  state: () => unknown;
  refresh?: () => void;
}

/** Parse a port setting: '' = off, else 0..65535 (0 = any free port). */
export function parsePort(text: string, name: string): number | undefined {
  if (text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) > 65535)
    throw new OnetError(
      'EINVAL',
      `${name}=${JSON.stringify(text)} is not a port: give 1-65535, 0 for any free port, or leave it unset to turn ` +
        `it off`,
    );
  return Number(text);
}

function handler(d: HttpDeps) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET' }).end('only GET\n');
        return;
      }
      if (path === '/metrics') {
        d.refresh?.(); // counters as of this scrape, not the last 1 Hz poll
        const body = await d.registry.metrics();
        res.writeHead(200, { 'content-type': d.registry.contentType }).end(body);
      } else if (path === '/events') {
        d.sse.add(req, res, { event: 'state', data: d.state() });
      } else if (path === '/api/state') {
        res
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' })
          .end(JSON.stringify(d.state()));
      } else if (FILES[path]) {
        const [file, type] = FILES[path];
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' }).end(readFileSync(file));
      } else {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(`not found: ${path} (try /, /metrics, /events, /api/state)\n`);
      }
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${(e as Error).message}\n`);
    }
  };
}

/** Listen on each distinct port; returns the servers and their URLs (port 0 resolved). */
export async function listen(
  host: string,
  ports: number[],
  d: HttpDeps,
): Promise<{ servers: Server[]; urls: string[] }> {
  const servers: Server[] = [],
    urls: string[] = [];
  for (const port of [...new Set(ports)]) {
    const s = createServer(handler(d));
    s.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new OnetError(
            'EINVAL',
            `telemetry server cannot listen on ${host}:${port}: ${e.code ?? e.message}; pick another ` +
              `ONET_METRICS_PORT / ONET_DASHBOARD_PORT`,
          ),
        ),
      );
      s.listen(port, host, () => resolve());
    });
    s.unref(); // the coordinator's sockets keep the process alive, not the dashboard
    const a = s.address() as { port: number };
    servers.push(s);
    urls.push(`http://${host.includes(':') ? `[${host}]` : host}:${a.port}`);
  }
  return { servers, urls };
}

export async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections?.();
          s.close(() => r());
        }),
    ),
  );
}
