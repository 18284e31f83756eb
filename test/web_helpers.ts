// Shared by the web tests: a job with Node rank processes and reserved web ranks (launch()), and
// web ranks played by Node `ws` clients through the built browser client (dist/browser).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import { type Job, launch } from '../src/api/launch';
import { ROOT } from './helpers';

export const CLIENT = join(ROOT, 'dist', 'browser', 'opennetworks.js');
export const EXAMPLES = join(ROOT, 'examples', 'browser');

/** The built browser client module (npm run build:ts builds it). */
export async function client(): Promise<any> {
  return import(pathToFileURL(CLIENT).href);
}

/** Join as a web rank from Node. */
export async function joinNode(url: string, opts: Record<string, unknown> = {}): Promise<any> {
  const c = await client();
  return c.join(url, { WebSocket, ...opts });
}

export interface WebJob {
  job: Job;
  urls: string[];
  logs: string[];
  runDir: string;
  done(): Promise<void>;
}

/** launch() n Node processes running `cmd` and reserve `web` ranks after them. */
export async function webJob(n: number, web: number, cmd: string[], env: NodeJS.ProcessEnv = {}): Promise<WebJob> {
  const runDir = mkdtempSync(join(tmpdir(), 'onet-web-'));
  const logs: string[] = [];
  const job = await launch({
    nprocs: n,
    web,
    cmd,
    cwd: ROOT,
    metricsIntervalMs: 0,
    timeoutMs: 80_000,
    graceMs: 1000,
    coordinatorLog: (l) => logs.push(l),
    env: {
      ONET_RUN_DIR: runDir,
      ONET_ARENA_BYTES: '48MiB',
      ONET_TIMEOUT: '60',
      ONET_CONNECT_TIMEOUT: '20',
      ONET_WEB_PORT: '0',
      ...env,
    },
  });
  job.on('log', (e) => logs.push(`[rank ${e.rank}] ${e.line}`));
  return {
    job,
    urls: job.webUrls,
    logs,
    runDir,
    async done() {
      await job.stop({ graceMs: 500 });
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** A coordinator in this process whose ranks are all web ranks (no processes: fast). */
export async function webCoordinator(job: string, world: number, env: NodeJS.ProcessEnv = {}) {
  const { Coordinator } = await import('../src/coordinator/server');
  const runDir = mkdtempSync(join(tmpdir(), 'onet-web-'));
  const logs: string[] = [];
  const c = await Coordinator.start({
    job,
    world,
    web: { first: 0, count: world },
    log: (level, msg) => logs.push(`${level}: ${msg}`),
    env: {
      ...process.env,
      ONET_RUN_DIR: runDir,
      ONET_ARENA_BYTES: '16MiB',
      ONET_TIMEOUT: '60',
      ONET_WEB_PORT: '0',
      ONET_JOB_TOKEN: 'test-job-token',
      ...env,
    },
  });
  return {
    c,
    urls: c.web!.joinUrls(),
    logs,
    async close() {
      await c.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** Messages a raw WebSocket receives, in order, with a way to wait for the next one. */
export class Inbox {
  readonly got: Array<{ text?: any; bin?: Uint8Array }> = [];
  closed?: { code: number; reason: string };
  private waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, isBinary) => {
      this.got.push(isBinary ? { bin: new Uint8Array(d) } : { text: JSON.parse(d.toString()) });
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }
  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** The next message (or undefined once the socket closed), within ms. */
  async next(ms = 10_000): Promise<{ text?: any; bin?: Uint8Array } | undefined> {
    const end = Date.now() + ms;
    while (this.got.length === 0 && !this.closed) {
      if (Date.now() > end) throw new Error(`no message within ${ms} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.got.shift();
  }
}

/** Open a raw WebSocket to a join URL's endpoint (optionally with an Origin header). */
export async function rawSocket(url: string, origin?: string): Promise<{ ws: WebSocket; inbox: Inbox }> {
  const { parseJoinUrl } = await client();
  const ws = new WebSocket(parseJoinUrl(url).wsUrl, origin ? { origin } : {});
  const inbox = new Inbox(ws);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  return { ws, inbox };
}

/** The register message for a join URL, its proof made here with node:crypto (docs/protocol.md §8). */
export async function registerMsg(url: string, over: Record<string, unknown> = {}) {
  const { createHmac, randomBytes } = await import('node:crypto');
  const { parseJoinUrl } = await client();
  const t = parseJoinUrl(url);
  const ts = Date.now();
  const nonce = randomBytes(16).toString('hex');
  const mac = createHmac('sha256', (over.token as string) ?? t.token)
    .update(['onet-v1', 'register', t.job, t.rank, 0, ts, nonce].join('|'))
    .digest('hex');
  const { token: _t, ...rest } = over;
  return { v: 1, type: 'register', job: t.job, rank: t.rank, kind: 'browser', auth: { ts, nonce, mac }, ...rest };
}

export const ROOT_DIST = join(ROOT, 'dist');
