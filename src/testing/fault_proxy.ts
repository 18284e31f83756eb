// A user-space TCP proxy on the links between the "hosts" of a loopback job (loopback.ts): each
// host advertises the proxy's address for it (ONET_TEST_ADVERTISE) instead of its own, so every
// connection of every host pair passes through here and faults that would otherwise need root and
// sch_netem can be injected by any user, per direction and per stream of a pair:
//
// - delay: a fixed delay plus uniform jitter per chunk. A stream's bytes stay in order (TCP never
//   reorders within a connection); different streams of a pair get different delays when the
//   rules say so, which reorders messages across the pair's streams (what netem's reorder does to
//   a striped transfer).
// - loss: a lost segment never reaches an application as a gap. The kernel retransmits it after
//   an RTO (200 ms minimum on Linux) and every byte behind it on that socket waits (head-of-line
//   blocking) while the pair's other sockets go on. So `loss` holds a chunk, and the stream
//   behind it, for `rtoMs`. Loss so heavy that TCP gives up is a dead link: `stall` (bytes held,
//   sockets open: a cable pulled, a frozen host; the heartbeat must notice) or `reset` (RST on
//   both sides: a host or middlebox that aborts the connection).
// - corruption: flip one bit in the payload of every n-th data frame (the wire format is followed
//   by wire_cursor.ts), which the receiver's CRC32C must catch; or in the header of every n-th
//   frame (the header's own CRC32C fails and the stream cannot be read on: the pair is lost); or
//   in any byte of every n-th chunk after the hello. On real hardware this is a faulty NIC, switch
//   or memory writing bad bytes past TCP's own (weak, 16-bit) checksum.
//
// Host numbers are the proxy's target indexes; runJob gives host h the ranks that make it host h
// of the job too (hosts are ordered by their lowest rank). Only the tcp transport's connections
// are understood: the dialing host and stream come from its 32-byte hello.
import net from 'node:net';
import { HELLO_BYTES, parseHello, WireCursor } from './wire_cursor.js';

export interface Faults {
  /** Milliseconds added to the delivery of every chunk in this direction. */
  delayMs?: number;
  /** Plus uniform random [0, jitterMs) per chunk; the stream's order is kept. */
  jitterMs?: number;
  /** Probability per chunk that it is "lost": it and the stream behind it wait rtoMs. */
  loss?: number;
  /** What a lost segment costs (default 200: Linux's minimum retransmission timeout). */
  rtoMs?: number;
  /** Flip a bit in every n-th data frame's payload (0 or unset: never)... */
  corruptEvery?: number;
  /** ...or in every n-th frame header (heartbeats counted), or anywhere in every n-th chunk. */
  corruptWhere?: 'payload' | 'header' | 'anywhere';
  /** Payload corruption: never touch messages with these tags (e.g. ABORT_NOTICE_TAG)... */
  spareTags?: bigint[];
  /** ...or touch only these, counting only them for corruptEvery. */
  onlyTags?: bigint[];
  /** Deliver nothing until the rule is lifted (clear()). */
  stall?: boolean;
}

/** One direction of one connection: bytes from host `from` to host `to` on stream `stream`. */
export interface Link {
  from: number;
  to: number;
  stream: number;
}
export type LinkMatch = Partial<Link>;
export interface LinkStats extends Link {
  bytes: number;
  chunks: number;
  frames: number;
  corrupted: number;
  lost: number;
  maxHeldMs: number;
}

/** Both directions between hosts a and b (every stream, or one). */
export const between = (a: number, b: number, stream?: number): LinkMatch[] => [
  { from: a, to: b, stream },
  { from: b, to: a, stream },
];

/** The tag of abort notices (docs/protocol.md §9): 1 << 63 | 1 << 62 | 3. */
export const ABORT_NOTICE_TAG = (1n << 63n) | (1n << 62n) | 3n;

const HIGH_WATER = 8 << 20; // bytes queued in one direction before its source is paused
const LOW_WATER = 2 << 20;

const matches = (m: LinkMatch, l: Link) =>
  (m.from === undefined || m.from === l.from) &&
  (m.to === undefined || m.to === l.to) &&
  (m.stream === undefined || m.stream === l.stream);

/** One direction of a proxied connection: faults applied at arrival, delivery in order by due time. */
class Pipe {
  readonly stats: LinkStats;
  private queue: { buf: Buffer; due: number }[] = [];
  private queued = 0;
  private lastDue = 0;
  private timer?: NodeJS.Timeout;
  private draining = false;
  private paused = false;
  private ended = false;
  private offset = 0; // bytes of this direction seen so far
  private cursor = new WireCursor();
  private lastSeen = -1; // data frame whose payload was seen last
  private eligible = 0; // data frames so far whose tag the rule lets be corrupted
  private lastHeaderCorrupted = -1;

  constructor(
    private proxy: FaultProxy,
    private src: net.Socket,
    private dst: net.Socket,
    readonly link: Link,
  ) {
    this.stats = { ...link, bytes: 0, chunks: 0, frames: 0, corrupted: 0, lost: 0, maxHeldMs: 0 };
  }

  clearStats(): void {
    Object.assign(this.stats, { bytes: 0, chunks: 0, frames: 0, corrupted: 0, lost: 0, maxHeldMs: 0 });
  }

  push(chunk: Buffer): void {
    const f = this.proxy.faultsOf(this.link);
    const now = Date.now();
    this.corrupt(chunk, f);
    this.stats.bytes += chunk.length;
    this.stats.chunks++;
    let due = now + (f.delayMs ?? 0) + (f.jitterMs ? this.proxy.random() * f.jitterMs : 0);
    if (f.loss && this.proxy.random() < f.loss) {
      due += f.rtoMs ?? 200;
      this.stats.lost++;
    }
    due = Math.max(due, this.lastDue);
    this.lastDue = due;
    this.stats.maxHeldMs = Math.max(this.stats.maxHeldMs, due - now);
    this.queue.push({ buf: chunk, due });
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.src.pause();
    }
    if (!this.timer) this.pump();
  }

  end(): void {
    this.ended = true;
    this.pump();
  }

  /** Deliver what is due, unless stalled; called again by a timer, 'drain' or a rule change. */
  pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.draining || this.dst.destroyed) return;
    while (this.queue.length) {
      if (this.proxy.faultsOf(this.link).stall) return; // FaultProxy.clear() pumps again
      const head = this.queue[0];
      const wait = head.due - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.queue.shift();
      this.queued -= head.buf.length;
      if (!this.dst.write(head.buf)) {
        this.draining = true;
        this.dst.once('drain', () => {
          this.draining = false;
          this.pump();
        });
        break;
      }
    }
    if (this.paused && this.queued < LOW_WATER) {
      this.paused = false;
      this.src.resume();
    }
    if (this.ended && !this.queue.length && !this.draining) this.dst.end();
  }

  private corrupt(chunk: Buffer, f: Faults): void {
    const n = f.corruptEvery ?? 0;
    const start = this.offset;
    this.offset += chunk.length;
    const flip = (at: number) => {
      chunk[at] ^= 1 << Math.floor(this.proxy.random() * 8);
      this.stats.corrupted++;
    };
    const where = f.corruptWhere ?? 'payload';
    const framesBefore = this.cursor.frames;
    this.cursor.scan(
      chunk,
      (frame, from, to) => {
        if (frame !== this.lastSeen) {
          // a data frame's first payload bytes: pick it or not
          this.lastSeen = frame;
          const tag = this.cursor.tag;
          if (
            n > 0 &&
            where === 'payload' &&
            !f.spareTags?.includes(tag) &&
            (!f.onlyTags || f.onlyTags.includes(tag)) &&
            ++this.eligible % n === 0
          ) {
            flip(from + Math.floor(this.proxy.random() * (to - from)));
          }
        }
      },
      (header, from, to) => {
        if (n > 0 && where === 'header' && header % n === n - 1 && header !== this.lastHeaderCorrupted) {
          this.lastHeaderCorrupted = header;
          flip(from + Math.floor(this.proxy.random() * (to - from)));
        }
      },
    );
    this.stats.frames += this.cursor.frames - framesBefore;
    // Anywhere (or a stream the cursor cannot follow): never in the hello, which would only make
    // the handshake fail and the dialer retry.
    if (n > 0 && (where === 'anywhere' || this.cursor.lost) && this.stats.chunks % n === n - 1) {
      const lo = Math.max(0, HELLO_BYTES - start);
      if (lo < chunk.length) flip(lo + Math.floor(this.proxy.random() * (chunk.length - lo)));
    }
  }
}

/** A proxied connection: the dialer's socket, the upstream socket to the target host, two pipes. */
class Conn {
  pipes: Pipe[] = [];
  constructor(
    readonly down: net.Socket,
    readonly up: net.Socket,
    readonly link: Link,
  ) {}
  reset(): void {
    for (const s of [this.down, this.up]) if (!s.destroyed) s.resetAndDestroy();
  }
}

export class FaultProxy {
  /** Where host i's peers dial it: host i's ONET_TEST_ADVERTISE. */
  readonly addresses: string[] = [];
  private servers: net.Server[] = [];
  private rules: { match: LinkMatch; faults: Faults }[] = [];
  private conns = new Set<Conn>();
  private done: LinkStats[] = [];
  private seed: number;
  /** Connections accepted so far (a job's mesh is up when it has grown by pairs × streams). */
  accepted = 0;

  private constructor(
    private targets: string[],
    seed: number,
  ) {
    this.seed = seed >>> 0 || 1;
  }

  /** Listen on listenIps[i] (any free port) for host i, forwarding to targets[i] (its real ip:port). */
  static async start(targets: string[], listenIps: string[], seed = 12345): Promise<FaultProxy> {
    const p = new FaultProxy(targets, seed);
    for (let i = 0; i < targets.length; i++) {
      const server = net.createServer({ allowHalfOpen: true }, (s) => p.accept(i, s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, listenIps[i], () => resolve());
      });
      p.servers.push(server);
      p.addresses.push(`${listenIps[i]}:${(server.address() as net.AddressInfo).port}`);
    }
    return p;
  }

  /** Deterministic for a seed: xorshift32 in [0, 1). */
  random(): number {
    let s = this.seed;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    this.seed = s;
    return s / 2 ** 32;
  }

  /** Add a rule for the links it matches (later rules override earlier ones, field by field). */
  set(match: LinkMatch | LinkMatch[], faults: Faults): void {
    for (const m of Array.isArray(match) ? match : [match]) this.rules.push({ match: m, faults });
    this.changed();
  }

  /** Lift every rule: a stalled link delivers what it held, in order. */
  clear(): void {
    this.rules = [];
    this.changed();
  }

  faultsOf(l: Link): Faults {
    let f: Faults = {};
    for (const r of this.rules) if (matches(r.match, l)) f = { ...f, ...r.faults };
    return f;
  }

  /** RST both sockets of every live connection with a direction matching; returns how many. */
  reset(match: LinkMatch | LinkMatch[]): number {
    const ms = Array.isArray(match) ? match : [match];
    let n = 0;
    for (const c of [...this.conns])
      if (c.pipes.some((p) => ms.some((m) => matches(m, p.link)))) {
        c.reset();
        n++;
      }
    return n;
  }

  /** Per-direction counters of every connection so far (closed ones included). */
  stats(): LinkStats[] {
    return [...this.done, ...[...this.conns].flatMap((c) => c.pipes.map((p) => p.stats))];
  }

  /** Start counting afresh (closed connections forgotten, live ones from zero). */
  clearStats(): void {
    this.done = [];
    for (const c of this.conns) for (const p of c.pipes) p.clearStats();
  }

  /** One line per direction of a host pair, summed over its streams and connections. */
  summary(): string {
    const byDir = new Map<string, LinkStats>();
    for (const s of this.stats()) {
      const k = `${s.from}->${s.to}`;
      const zero = { bytes: 0, chunks: 0, frames: 0, corrupted: 0, lost: 0, maxHeldMs: 0 };
      const t = byDir.get(k) ?? { ...s, ...zero, stream: -1 };
      for (const f of ['bytes', 'chunks', 'frames', 'corrupted', 'lost'] as const) t[f] += s[f];
      t.maxHeldMs = Math.max(t.maxHeldMs, s.maxHeldMs);
      byDir.set(k, t);
    }
    const line = ([k, s]: [string, LinkStats]) =>
      `host ${k}: ${s.bytes} B in ${s.chunks} chunks, ${s.frames} data frames, ` +
      `${s.corrupted} corrupted, ${s.lost} "lost", longest hold ${Math.round(s.maxHeldMs)} ms`;
    return [...byDir].sort().map(line).join('\n');
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.reset();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }

  private changed(): void {
    for (const c of this.conns) for (const p of c.pipes) p.pump();
  }

  /** Read the dialer's hello (who it is, which stream), then connect upstream and pipe both ways. */
  private accept(to: number, down: net.Socket): void {
    this.accepted++;
    down.setNoDelay(true);
    down.on('error', () => {});
    let first = Buffer.alloc(0);
    const onFirst = (d: Buffer) => {
      first = Buffer.concat([first, d]);
      if (first.length < HELLO_BYTES) return;
      down.off('data', onFirst);
      down.pause();
      const h = parseHello(first);
      this.connect(to, down, { from: h?.rank ?? -1, to, stream: h?.stream ?? -1 }, first);
    };
    down.on('data', onFirst);
  }

  private connect(to: number, down: net.Socket, link: Link, first: Buffer): void {
    const [host, port] = [this.targets[to].replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(this.targets[to])![1])];
    const up = net.connect({ host, port, allowHalfOpen: true }); // each direction ends on its own
    up.setNoDelay(true);
    const c = new Conn(down, up, link);
    const fwd = new Pipe(this, down, up, link);
    const rev = new Pipe(this, up, down, { from: link.to, to: link.from, stream: link.stream });
    c.pipes = [fwd, rev];
    this.conns.add(c);
    // A socket that fails resets the other side too, as a broken path does to both hosts.
    const fail = () => c.reset();
    up.on('error', fail);
    down.on('error', fail);
    down.on('data', (d: Buffer) => fwd.push(d));
    up.on('data', (d: Buffer) => rev.push(d));
    down.on('end', () => fwd.end());
    up.on('end', () => rev.end());
    let closed = 0;
    const onClose = () => {
      if (++closed < 2) return;
      this.conns.delete(c);
      this.done.push(fwd.stats, rev.stats);
    };
    up.on('close', onClose);
    down.on('close', onClose);
    fwd.push(first);
    down.resume();
  }
}
