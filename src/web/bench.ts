// `onet bench --web`: a browser rank's collectives next to raw WebSocket loopback in the same run.
// Two web ranks (the browser client over the `ws` package, as a page would run it) allreduce
// through an in-process coordinator; the baseline echoes the same bytes over a bare `ws` server
// on the same loopback (one message up, one down: what a web rank's collective moves). Reported:
// time per op, throughput, and the collective's share of the raw throughput.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { Coordinator } from '../coordinator/server.js';
import { OnetError } from '../errors.js';
import { CLIENT_FILE } from './static.js';

export interface WebBenchRow {
  bytes: number;
  iters: number;
  collUs: number;
  rawUs: number;
  collMBps: number;
  rawMBps: number;
  share: number;
}

const SIZES = [8, 64 << 10, 1 << 20, 4 << 20, 16 << 20];
const itersFor = (b: number) => (b <= 64 << 10 ? 200 : b <= 1 << 20 ? 30 : 8);

async function rawEcho(bytes: number, iters: number): Promise<number> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate: false });
  ws.binaryType = 'arraybuffer';
  await new Promise<void>((r) => ws.once('open', () => r()));
  const msg = new Uint8Array(bytes);
  const once = () =>
    new Promise<void>((r) => {
      ws.once('message', () => r());
      ws.send(msg);
    });
  await once();
  const t = performance.now();
  for (let i = 0; i < iters; i++) await once();
  const us = ((performance.now() - t) * 1000) / iters;
  ws.close();
  await new Promise<void>((r) => wss.close(() => r()));
  return us;
}

export async function benchWebRows(sizes = SIZES, scale = 1): Promise<WebBenchRow[]> {
  const runDir = mkdtempSync(join(tmpdir(), 'onet-bench-web-'));
  const env = { ...process.env, ONET_RUN_DIR: runDir, ONET_ARENA_BYTES: `${4 * Math.max(...sizes) + (1 << 20)}` };
  const c = await Coordinator.start({
    job: `bench-web-${process.pid}`,
    world: 2,
    env,
    web: { first: 0, count: 2 },
    log: () => {},
  });
  try {
    const client = await import(pathToFileURL(CLIENT_FILE).href);
    const comms = await Promise.all(c.web!.joinUrls().map((u: string) => client.join(u, { WebSocket })));
    const rows: WebBenchRow[] = [];
    for (const bytes of sizes) {
      const iters = Math.max(2, Math.round(itersFor(bytes) * scale));
      const xs = comms.map(() => new Float32Array(Math.max(1, bytes / 4)));
      const op = () => Promise.all(comms.map((cm: any, i: number) => cm.allreduce(xs[i])));
      await op();
      const t = performance.now();
      for (let i = 0; i < iters; i++) await op();
      const collUs = ((performance.now() - t) * 1000) / iters;
      const rawUs = await rawEcho(bytes, iters);
      rows.push({
        bytes,
        iters,
        collUs,
        rawUs,
        collMBps: bytes / collUs,
        rawMBps: bytes / rawUs,
        share: rawUs / collUs,
      });
    }
    await Promise.all(comms.map((cm: any) => cm.close()));
    return rows;
  } finally {
    await c.close();
    rmSync(runDir, { recursive: true, force: true });
  }
}

const human = (b: number) => (b >= 1 << 20 ? `${b / (1 << 20)} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

export async function benchWeb(o: { json?: boolean; scale?: string }): Promise<number> {
  const scale = o.scale ? Number(o.scale) : 1;
  if (!(scale > 0)) throw new OnetError('EINVAL', `--scale ${o.scale} is not a positive number`);
  const rows = await benchWebRows(SIZES, scale);
  if (o.json) {
    console.log(JSON.stringify({ bench: 'web', rows }, null, 2));
    return 0;
  }
  console.log('# onet bench --web: allreduce (f32) by 2 web ranks vs a raw WebSocket echo, same loopback, same run');
  console.log('#      size   iters   allreduce µs   raw echo µs   allreduce MB/s   raw MB/s   share of raw');
  for (const r of rows)
    console.log(
      `${human(r.bytes).padStart(11)} ${String(r.iters).padStart(7)} ${r.collUs.toFixed(1).padStart(14)} ` +
        `${r.rawUs.toFixed(1).padStart(13)} ${r.collMBps.toFixed(1).padStart(16)} ` +
        `${r.rawMBps.toFixed(1).padStart(10)} ` +
        `${(100 * r.share).toFixed(0).padStart(13)}%`,
    );
  const small = rows.find((r) => r.bytes === 8);
  if (small)
    console.log(`# 8-byte latency: allreduce ${small.collUs.toFixed(1)} µs, raw echo ${small.rawUs.toFixed(1)} µs`);
  return 0;
}
