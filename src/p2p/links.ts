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
