// The coordinator's WebSocket endpoint for browser and Pyodide ranks (issue 13, spec/web.json).
// One HTTP(S) server: static files (static.ts) and the WebSocket upgrade at /ws. Ranks
// first..first+count-1 are reserved for web ranks, each with a one-time join URL; a session
// (session.ts) turns a registered connection into a local rank of the engine. Limits: frames
// over ONET_WEB_MAX_FRAME_BYTES close the connection (1009), pages from other origins are refused,
// a client silent for ONET_WEB_HEARTBEAT or not reading its results is dropped.
import { createServer as createHttp, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { joinUrl } from '../browser/join_url.js';
import { setting } from '../config/settings.js';
import type { Logger } from '../coordinator/log.js';
import { OnetError } from '../errors.js';
import { WEB } from '../gen/web.js';
import { webBind } from './bind.js';
import { Session, type SessionHost } from './session.js';
import { serveStatic } from './static.js';
import { JoinTokens } from './tokens.js';

/** Which ranks are web ranks. */
export interface WebOptions {
  first: number;
  count: number;
}

/** What the endpoint needs of its coordinator. */
export interface WebCoordinator {
  readonly job: string;
  readonly world: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  failRank(rank: number, why: string): void;
}

/** How long shutting down waits for web ranks' running calls and queued results, and for their close frames. */
const SETTLE_MS = 2000;
const CLOSE_MS = 1000;

/** Resolves once `done()` holds (checked every 5 ms) or after `ms`. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

export class WebEndpoint {
  /** http(s)://host:port of the endpoint (the join pages' origin). */
  origin = '';
  private readonly sessions = new Set<Session>();
  private readonly joinedRanks = new Map<number, Session>();
  private readonly wss: WebSocketServer;
  private readonly http: Server;
  private readonly allowed = new Set<string>();
  private timer?: NodeJS.Timeout;
  private readonly host: SessionHost;

  private constructor(
    private readonly c: WebCoordinator,
    o: WebOptions,
  ) {
    const ranks = Array.from({ length: o.count }, (_, i) => o.first + i);
    if (o.count < 1 || o.first < 0 || o.first + o.count > c.world)
      throw new OnetError(
        'EINVAL',
        `web ranks ${o.first}..${o.first + o.count - 1} do not fit in world size ${c.world}`,
      );
    const bind = webBind(c.env);
    const heartbeatMs = Math.max(100, Math.round((setting('webHeartbeatS', c.env) as number) * 1000));
    const maxFrameBytes = setting('webMaxFrameBytes', c.env) as number;
    this.host = {
      job: c.job,
      world: c.world,
      env: c.env,
      log: c.log,
      tokens: new JoinTokens(c.job, ranks),
      maxFrameBytes,
      maxBufferedBytes: setting('webMaxBufferedBytes', c.env) as number,
      heartbeatMs,
      failRank: (r, why) => c.failRank(r, why),
      joined: (s) => this.joinedRanks.set(s.rank, s),
      left: (s) => this.joinedRanks.delete(s.rank),
    };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, perMessageDeflate: false });
    const onRequest = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
      if (serveStatic(req, res)) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`OpenNetworks job ${c.job}: open a join URL (${WEB.joinPath}#job=…&rank=…&token=…)\n`);
    };
    this.http = bind.tls ? createHttps({ ...bind.tls, minVersion: 'TLSv1.2' }, onRequest) : createHttp(onRequest);
    this.http.on('upgrade', (req, sock, head) => this.upgrade(req, sock, head));
    this.bindTo = bind;
  }
  private readonly bindTo: ReturnType<typeof webBind>;

  static async start(c: WebCoordinator, o: WebOptions): Promise<WebEndpoint> {
    const e = new WebEndpoint(c, o);
    await e.listen();
    return e;
  }

  private async listen(): Promise<void> {
    const { host, port, tls } = this.bindTo;
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new OnetError(
            'EINVAL',
            `web endpoint cannot listen on ${host}:${port}: ${err.message}; set ONET_WEB_PORT/ONET_WEB_HOST`,
          ),
        ),
      );
      this.http.listen(port, host, () => resolve());
    });
    const bound = (this.http.address() as { port: number }).port;
    const h = host.includes(':') ? `[${host}]` : host;
    this.origin = `${tls ? 'https' : 'http'}://${h}:${bound}`;
    this.allowed.add(this.origin);
    if (host === '127.0.0.1' || host === '::1') this.allowed.add(`${tls ? 'https' : 'http'}://localhost:${bound}`);
    for (const o of String(setting('webOrigins', this.c.env)).split(',')) if (o.trim()) this.allowed.add(o.trim());
    this.timer = setInterval(() => {
      for (const s of this.sessions) s.tick();
    }, this.host.heartbeatMs);
    this.timer.unref();
    this.c.log('info', `web endpoint at ${this.origin} for ranks ${this.host.tokens.ranks.join(', ')}`);
  }

  private upgrade(req: IncomingMessage, sock: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== WEB.path) {
      sock.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, sock, head, (ws) => {
      const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      // Pages from other origins are told why before the close (a browser hides a refused handshake).
      const origin = req.headers.origin;
      if (origin !== undefined && !this.allowed.has(origin)) {
        this.c.log('warn', `refused a web client from origin ${origin} (${peer})`);
        const message =
          `origin ${origin} may not join job ${this.c.job}: open the join URL on ${this.origin}, ` +
          'or list the origin in ONET_WEB_ORIGINS';
        ws.send(JSON.stringify({ v: WEB.version, type: 'error', code: 'EACCES', message, ranks: [] }));
        ws.close(WEB.closeCodes.policy, 'origin not allowed');
        return;
      }
      const s = new Session(ws, this.host, peer);
      this.sessions.add(s);
      ws.on('close', () => this.sessions.delete(s));
    });
  }

  /** One join URL per web rank, in rank order (each works once). */
  joinUrls(): string[] {
    return this.host.tokens.ranks.map((r) => joinUrl(this.origin, this.c.job, r, this.host.tokens.token(r)!));
  }

  /** The web ranks that have joined: rank, kind and the client's address. */
  joined(): { rank: number; kind: string; peer: string }[] {
    return [...this.joinedRanks.values()].map((s) => ({ rank: s.rank, kind: s.kind, peer: s.peer }));
  }

  /**
   * Shut down without losing what a web rank is owed: wait (at most SETTLE_MS) until no web call
   * runs and no result is queued, close each connection with a close frame behind its last result
   * and give the clients CLOSE_MS to answer it; only then cut the ones left.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await until(() => [...this.sessions].every((s) => s.settled()), SETTLE_MS);
    for (const c of this.wss.clients) c.close(WEB.closeCodes.goingAway, 'the coordinator is shutting down');
    await until(() => this.wss.clients.size === 0, CLOSE_MS);
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    this.http.closeAllConnections?.();
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}
