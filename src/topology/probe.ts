// Bounded-time link probing. The transfer itself is injected: `measure(peer, bytes)` moves
// `bytes` to `peer` and resolves once the peer acknowledged them (the coordinator passes its
// transport's ping; `tcpPinger` below is a plain TCP one). We time it here, with the classic
// ping-pong estimate: one-way latency = min RTT(small) / 2, bandwidth = (large − small) bytes /
// (min t(large) − min t(small)). Minimums, because noise only ever adds time.
import net from 'node:net';
import { OnetError } from '../errors.js';
import type { TopoLink } from './graph.js';

export type Measure = (peer: string, bytes: number) => Promise<void>;

export interface ProbeOptions {
  budgetMs?: number; // wall-clock bound for one peer, all repetitions included
  smallBytes?: number; // latency message
  largeBytes?: number; // bandwidth message
  reps?: number; // repetitions of each size, while the budget lasts
}
export interface ProbeFailure {
  peer: string;
  reason: string;
}
export interface ProbeResult {
  links: TopoLink[];
  failed: ProbeFailure[];
  elapsedMs: number;
}

const now = () => Number(process.hrtime.bigint()) / 1e3; // µs

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const timer = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new OnetError('ETIMEDOUT', what)), Math.max(1, ms));
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

/** Probe `self`→each peer in turn; a peer that errors or overruns its budget lands in `failed`. */
export async function probeLinks(
  self: string,
  peers: string[],
  measure: Measure,
  o: ProbeOptions = {},
): Promise<ProbeResult> {
  const budget = o.budgetMs ?? 2000,
    small = o.smallBytes ?? 8,
    large = o.largeBytes ?? 4 << 20,
    reps = o.reps ?? 5;
  const links: TopoLink[] = [],
    failed: ProbeFailure[] = [];
  const t0 = now();
  for (const peer of peers) {
    const deadline = now() + budget * 1000;
    const timed = async (bytes: number) => {
      const left = (deadline - now()) / 1000;
      if (left <= 0) throw new OnetError('ETIMEDOUT', `probe budget of ${budget} ms used up`);
      const s = now();
      await within(measure(peer, bytes), left, `no answer within the ${budget} ms probe budget (${bytes} B message)`);
      return now() - s;
    };
    try {
      let tSmall = Infinity,
        tLarge = Infinity;
      // One of each is required; more only while at most half the budget is gone, so the
      // last repetition cannot push the probe past its bound by much.
      for (let i = 0; i < reps && (i === 0 || now() < deadline - budget * 500); i++)
        tSmall = Math.min(tSmall, await timed(small));
      for (let i = 0; i < reps && (i === 0 || now() < deadline - budget * 500); i++)
        tLarge = Math.min(tLarge, await timed(large));
      const dt = tLarge - tSmall;
      const bandwidthGBs = (dt > 0 ? (large - small) / dt : large / tLarge) / 1e3; // bytes/µs → GB/s
      links.push({ a: self, b: peer, latencyUs: round(tSmall / 2), bandwidthGBs: round(bandwidthGBs), measured: true });
    } catch (e: any) {
      failed.push({ peer, reason: e?.message ?? String(e) });
    }
  }
  return { links, failed, elapsedMs: (now() - t0) / 1000 };
}

const round = (x: number) => Number(x.toPrecision(4));

// ---- A TCP ping: 4-byte big-endian length + payload, answered by one byte. ----

/** Answer every framed message with one byte. Returns the server once it listens. */
export function startProbeServer(port = 0, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    let want = -1,
      have = 0,
      head = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      while (d.length) {
        if (want < 0) {
          head = Buffer.concat([head, d]);
          if (head.length < 4) return;
          want = head.readUInt32BE(0);
          d = head.subarray(4);
          head = Buffer.alloc(0);
          have = 0;
        }
        const take = Math.min(want - have, d.length);
        have += take;
        d = d.subarray(take);
        if (have === want) {
          sock.write(Buffer.of(1));
          want = -1;
        }
      }
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** A `Measure` over TCP to probe servers named "host:port"; one connection per peer, reused. */
export function tcpPinger(connectTimeoutMs = 2000): { measure: Measure; close(): void } {
  const conns = new Map<string, Promise<net.Socket>>();
  const payload = new Map<number, Buffer>();
  const connect = (peer: string) => {
    const m = /^(.*):(\d+)$/.exec(peer);
    if (!m) return Promise.reject(new OnetError('EINVAL', `probe peer ${JSON.stringify(peer)} is not host:port`));
    return new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), timeout: connectTimeoutMs });
      s.setNoDelay(true);
      s.once('connect', () => {
        s.setTimeout(0);
        resolve(s);
      });
      s.once('timeout', () => {
        s.destroy();
        reject(new OnetError('ETIMEDOUT', `connect to ${peer} took over ${connectTimeoutMs} ms`));
      });
      s.once('error', (e: any) =>
        reject(
          new OnetError(
            'ECLOSED',
            `connect to ${peer}: ${e.code ?? e.message}; is \`onet topo --probe-server\` running there?`,
          ),
        ),
      );
    });
  };
  const measure: Measure = async (peer, bytes) => {
    if (!conns.has(peer)) conns.set(peer, connect(peer));
    const s = await conns.get(peer)!;
    if (!payload.has(bytes)) {
      const b = Buffer.alloc(4 + bytes);
      b.writeUInt32BE(bytes, 0);
      payload.set(bytes, b);
    }
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        done();
        resolve();
      };
      const onErr = (e: any) => {
        done();
        reject(new OnetError('ECLOSED', `${peer}: ${e?.code ?? 'connection closed'}`));
      };
      const done = () => {
        s.off('data', onData);
        s.off('error', onErr);
        s.off('close', onErr);
      };
      s.once('data', onData);
      s.once('error', onErr);
      s.once('close', onErr);
      s.write(payload.get(bytes)!);
    });
  };
  return {
    measure,
    close: () => {
      for (const c of conns.values())
        c.then(
          (s) => s.destroy(),
          () => {},
        );
      conns.clear();
    },
  };
}
