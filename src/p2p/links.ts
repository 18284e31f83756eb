// Per link of a WAN job: how its libp2p connection runs (direct, hole-punched by DCUtR, or
// relayed through a circuit relay v2 node) and its round trip (libp2p ping). Collective bytes
// take the native transport between the hosts' announced addresses, or a tunnel over libp2p
// (tunnel.ts) where that address does not answer: `path` says which, `kind` how libp2p runs.
import type { Connection, Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { HostEntry } from '../coordinator/rendezvous.js';
import type { P2pNode } from './node.js';
import type { Forwarder } from './tunnel.js';

export type LinkKind = 'direct' | 'hole-punched' | 'relayed' | 'none';
export interface LinkInfo {
  host: number;
  peer: string;
  kind: LinkKind;
  remote: string;
  rttMs: number | null;
  /** Data path of the collectives on this link. */
  data: string;
  /** 'native': the native transport straight to the host; 'tunnel': over a libp2p stream (kind says how). */
  path: 'native' | 'tunnel';
  /** Tunnel only: bytes carried so far each way. */
  sentBytes?: number;
  receivedBytes?: number;
  /** Measured bandwidth (bytes/s) of the collectives' payload each way over the last `windowS`
   *  seconds, from the native transport's per-peer counters (headers and heartbeats not counted). */
  sentBps?: number;
  receivedBps?: number;
  windowS?: number;
  /** The native transport's payload bytes to and from this host so far. */
  dataSentBytes?: number;
  dataReceivedBytes?: number;
  /** Tunnel only: the tunnel's bytes/s each way over the same window (framing included). */
  tunnelSentBps?: number;
  tunnelReceivedBps?: number;
}

/** Byte counters of one host, cumulative. */
export interface ByteCount {
  sent: number;
  received: number;
}

/** Bandwidth is measured over the last this many ms (counters sampled about once a second). */
export const BW_WINDOW_MS = 10_000;

/**
 * Per-host bandwidth from cumulative byte counters: sample() about once a second, rate() is
 * the difference between the newest sample and the oldest one within BW_WINDOW_MS, per second.
 */
export class BandwidthMeter {
  private samples: { at: number; counts: Map<string, ByteCount> }[] = [];
  constructor(private read: () => Map<string, ByteCount>) {}

  sample(now = Date.now()): void {
    this.samples.push({ at: now, counts: this.read() });
    while (this.samples.length > 2 && now - this.samples[1].at >= BW_WINDOW_MS) this.samples.shift();
  }

  /** Bytes/s each way of `key` over the window, or undefined before two samples. */
  rate(key: string): { sentBps: number; receivedBps: number; windowS: number; total: ByteCount } | undefined {
    const first = this.samples[0],
      last = this.samples[this.samples.length - 1];
    const a = first?.counts.get(key),
      b = last?.counts.get(key);
    if (!b) return undefined;
    const dt = (last.at - first.at) / 1000;
    if (!a || dt <= 0) return { sentBps: 0, receivedBps: 0, windowS: 0, total: b };
    const per = (x: number) => Math.max(0, Math.round(x / dt));
    return {
      sentBps: per(b.sent - a.sent),
      receivedBps: per(b.received - a.received),
      windowS: Math.round(dt * 10) / 10,
      total: b,
    };
  }
}

/** The native transport's counters by host (engine.links()) and, as `t<host>`, the tunnels' byte counts. */
export function linkCounters(linksJson: () => string, tunnels: Map<number, Forwarder>): () => Map<string, ByteCount> {
  return () => {
    const m = new Map<string, ByteCount>();
    try {
      for (const l of JSON.parse(linksJson()) as { peer: number; bytesSent: number; bytesReceived: number }[])
        m.set(String(l.peer), { sent: l.bytesSent, received: l.bytesReceived });
    } catch {
      /* engine closed: no native counters */
    }
    for (const [h, t] of tunnels) m.set(`t${h}`, { sent: t.count.sent, received: t.count.received });
    return m;
  };
}

/** A link with its measured bandwidth from `meter` (unchanged where there is none yet). */
export function withBandwidth(l: LinkInfo, meter: BandwidthMeter): LinkInfo {
  const n = meter.rate(String(l.host));
  if (!n) return l;
  const out: LinkInfo = {
    ...l,
    sentBps: n.sentBps,
    receivedBps: n.receivedBps,
    windowS: n.windowS,
    dataSentBytes: n.total.sent,
    dataReceivedBytes: n.total.received,
  };
  const t = l.path === 'tunnel' ? meter.rate(`t${l.host}`) : undefined;
  if (t)
    Object.assign(out, {
      tunnelSentBps: t.sentBps,
      tunnelReceivedBps: t.receivedBps,
      sentBytes: t.total.sent,
      receivedBytes: t.total.received,
    });
  return out;
}

/** What AutoNAT made of this node's addresses: a public one verified (dialled back by a peer), or not. */
export function autonatVerdict(node: Libp2p): { verdict: 'public' | 'unverified' | 'private'; addrs: string[] } {
  let addrs: { multiaddr: { toString(): string }; verified: boolean }[] = [];
  try {
    addrs = (node as any).components.addressManager.getAddressesWithMetadata();
  } catch {
    /* not a full libp2p node */
  }
  const isPublic = (a: string) => {
    const m = /^\/ip4\/(\d+)\.(\d+)\./.exec(a);
    if (!m) return /^\/ip6\/[23]/.test(a);
    const [x, y] = [Number(m[1]), Number(m[2])];
    return !(x === 10 || x === 127 || (x === 172 && y >= 16 && y < 32) || (x === 192 && y === 168) || x === 169);
  };
  const pub = addrs.filter((a) => isPublic(a.multiaddr.toString()) && !a.multiaddr.toString().includes('p2p-circuit'));
  const ok = pub.filter((a) => a.verified).map((a) => a.multiaddr.toString());
  if (ok.length) return { verdict: 'public', addrs: ok };
  if (pub.length) return { verdict: 'unverified', addrs: pub.map((a) => a.multiaddr.toString()) };
  return { verdict: 'private', addrs: [] };
}

const relayed = (c: Connection) => c.remoteAddr.toString().includes('/p2p-circuit');

/** Peers whose first connection was relayed: a later direct one came by hole punching. */
const wasRelayed = new WeakMap<Libp2p, Set<string>>();
export function trackHolePunches(node: Libp2p): void {
  const seen = new Set<string>();
  wasRelayed.set(node, seen);
  node.addEventListener('connection:open', (e) => {
    if (relayed(e.detail)) seen.add(e.detail.remotePeer.toString());
  });
}

export function linkKind(node: Libp2p, peer: string): { kind: LinkKind; remote: string } {
  const conns = node.getConnections(peerIdFromString(peer)).filter((c) => c.status === 'open');
  const direct = conns.find((c) => !relayed(c));
  if (direct)
    return {
      kind: wasRelayed.get(node)?.has(peer) ? 'hole-punched' : 'direct',
      remote: direct.remoteAddr.toString(),
    };
  if (conns.length) return { kind: 'relayed', remote: conns[0].remoteAddr.toString() };
  return { kind: 'none', remote: '' };
}

export async function describeLinks(
  node: P2pNode,
  peers: string[],
  hosts: HostEntry[],
  tunnels: Map<number, Forwarder> = new Map(),
): Promise<LinkInfo[]> {
  const me = node.peerId.toString();
  return Promise.all(
    peers.map(async (peer, host): Promise<LinkInfo | undefined> => {
      if (peer === me) return undefined;
      const { kind, remote } = linkKind(node, peer);
      let rttMs: number | null = null;
      try {
        rttMs = await node.services.ping.ping(peerIdFromString(peer), { signal: AbortSignal.timeout(2000) });
      } catch {
        /* unreachable now: null */
      }
      const t = tunnels.get(host);
      if (!t) return { host, peer, kind, remote, rttMs, path: 'native', data: `native tcp to ${hosts[host].addr}` };
      return {
        host,
        peer,
        kind,
        remote,
        rttMs,
        path: 'tunnel',
        data: `native tcp via ${t.addr}, tunnelled over libp2p (${kind}) to ${hosts[host].addr}`,
        sentBytes: t.count.sent,
        receivedBytes: t.count.received,
      };
    }),
  ).then((l) => l.filter((x): x is LinkInfo => x !== undefined));
}
