// A small rendezvous registry that every `onet relay` serves beside its DHT: a coordinator
// registers under its job's namespace (the DHT key, which only token holders can compute; the
// relay learns neither job id nor token) and gets back the other peers registered there, with
// the addresses the relay saw for them plus a relayed address through this relay. Discovery
// through a bootstrap node thus takes one round trip; the DHT remains the way between
// bootstraps that do not know each other. Entries expire after TTL_MS unless renewed.
import type { Libp2p, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { PeerHint } from './messages.js';

export const REGISTRY_PROTOCOL = '/onet/wan/registry/1';
const TTL_MS = 60_000;
const MAX_NAMESPACES = 4096;
const MAX_PER_NAMESPACE = 1024;
const MAX_BYTES = 512;

/** Serve the registry on a relay node. */
export async function serveRegistry(node: Libp2p): Promise<void> {
  const spaces = new Map<string, Map<string, number>>();
  const addrsOf = async (id: Stream['id'] | any): Promise<string[]> => {
    const out = new Set<string>();
    try {
      const p = await node.peerStore.get(id);
      for (const a of p.addresses) out.add(a.multiaddr.toString());
    } catch {
      /* not in the store yet */
    }
    // Only where this relay dialled the peer: an inbound connection's remote address is the port the
    // peer (or its NAT) dialled out from, which nobody listens on (behind NAT, a dial there black-holes).
    for (const c of node.getConnections(id)) if (c.direction === 'outbound') out.add(c.remoteAddr.toString());
    for (const m of node.getMultiaddrs())
      if (!m.toString().includes('/p2p-circuit')) out.add(`${m.toString()}/p2p-circuit`);
    return [...out].slice(0, 16);
  };
  await node.handle(
    REGISTRY_PROTOCOL,
    async (stream, conn) => {
      const signal = AbortSignal.timeout(5000);
      try {
        const lp = lpStream(stream, { maxDataLength: MAX_BYTES });
        const req = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray()));
        const ns = typeof req?.ns === 'string' && /^[0-9a-zA-Z]{8,128}$/.test(req.ns) ? req.ns : '';
        if (!ns) throw new Error('registry request without a namespace');
        const now = Date.now();
        let space = spaces.get(ns);
        if (!space) {
          if (spaces.size >= MAX_NAMESPACES)
            for (const [k, v] of spaces) if ([...v.values()].every((t) => now - t > TTL_MS)) spaces.delete(k);
          if (spaces.size >= MAX_NAMESPACES) throw new Error('registry full');
          space = new Map();
          spaces.set(ns, space);
        }
        const me = conn.remotePeer.toString();
        for (const [id, t] of space) if (now - t > TTL_MS) space.delete(id);
        if (space.size < MAX_PER_NAMESPACE || space.has(me)) space.set(me, now);
        const peers: PeerHint[] = [];
        for (const id of space.keys()) {
          if (id === me) continue;
          const c = node.getConnections().find((x) => x.remotePeer.toString() === id);
          peers.push({ id, addrs: c ? await addrsOf(c.remotePeer) : [] });
        }
        await lp.write(new TextEncoder().encode(JSON.stringify({ peers })), { signal });
        await stream.close({ signal });
      } catch (e) {
        stream.abort(e as Error);
      }
    },
    { maxInboundStreams: 256 },
  );
}

/** Register under `ns` at the relay `peer` and return the other peers registered there. */
export async function register(node: Libp2p, relay: Parameters<Libp2p['dialProtocol']>[0], ns: string) {
  const signal = AbortSignal.timeout(5000);
  const stream = await node.dialProtocol(relay, REGISTRY_PROTOCOL, { signal });
  try {
    const lp = lpStream(stream, { maxDataLength: 1 << 20 });
    await lp.write(new TextEncoder().encode(JSON.stringify({ ns })), { signal });
    const reply = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray()));
    await stream.close({ signal }).catch(() => {});
    const peers: PeerHint[] = Array.isArray(reply?.peers) ? reply.peers : [];
    return peers.filter(
      (p) => typeof p?.id === 'string' && Array.isArray(p.addrs) && p.addrs.every((a) => typeof a === 'string'),
    );
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}
