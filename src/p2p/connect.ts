// A connection to one of the job's peers for the WAN rendezvous (exchange.ts): an open one (direct
// preferred), else libp2p's dial raced by a dial through the bootstrap relays.
// Why not libp2p's dial alone: it tries a peer's addresses one at a time, direct ones first, each
// for up to 6 s (its ADDRESS_DIAL_TIMEOUT), and the relayed address last. Behind NAT the direct
// ones black-hole (the peer's private LAN address once ICMP is rate-limited, the port its NAT
// mapped for the relay connection), so a rendezvous message, bounded at 5 s, timed out before
// the relayed address was tried, and a retry started the same dial again: two hosts behind NAT
// met only when some other dial happened to keep libp2p's attempt alive (7-15 s per meeting in
// test/wan_holepunch.test.ts, now and then ONET_CONNECT_TIMEOUT under load). So after a head
// start the relayed addresses are dialled beside libp2p's queue; the first connection wins and
// libp2p's dial goes on, so a direct connection that comes later is still made (and preferred).
import type { Connection } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { P2pNode } from './node.js';

/** How long libp2p's own dial (direct addresses first) runs alone before the relays are tried too. */
export const RELAY_HEAD_START_MS = 1000;

const relayed = (a: string) => a.includes('/p2p-circuit');

interface TransportManager {
  dial(ma: ReturnType<typeof multiaddr>, o: { signal: AbortSignal }): Promise<Connection>;
}
const transports = (node: P2pNode) =>
  (node as unknown as { components: { transportManager: TransportManager } }).components.transportManager;

/** `peer`'s relayed addresses: through each bootstrap relay (where every coordinator reserves a
 *  slot, node.ts), then any other the peer store holds. */
async function relayedAddrs(node: P2pNode, peer: string, bootstrap: string[]): Promise<string[]> {
  const out = new Set(bootstrap.map((b) => `${b}/p2p-circuit/p2p/${peer}`));
  try {
    for (const a of (await node.peerStore.get(peerIdFromString(peer))).addresses) {
      const s = a.multiaddr.toString();
      if (relayed(s)) out.add(s.endsWith(`/p2p/${peer}`) ? s : `${s}/p2p/${peer}`);
    }
  } catch {
    /* not in the peer store */
  }
  return [...out];
}

/** Dial `peer` through its relayed addresses, one at a time, with the transport itself (not the
 *  dial queue, which would only append them to the dial already under way). */
async function dialRelayed(node: P2pNode, peer: string, bootstrap: string[], signal: AbortSignal) {
  signal.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const stop = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, RELAY_HEAD_START_MS);
    signal.addEventListener('abort', stop, { once: true });
  });
  const errors: string[] = [];
  for (const a of await relayedAddrs(node, peer, bootstrap)) {
    signal.throwIfAborted();
    try {
      return await transports(node).dial(multiaddr(a), { signal });
    } catch (e) {
      errors.push(`${a}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no relayed address answered (${errors.join('; ') || 'none known'})`);
}

/** An open connection to `peer`, or a new one; throws when neither path connects before `signal`. */
export async function connectTo(
  node: P2pNode,
  peer: string,
  bootstrap: string[],
  signal: AbortSignal,
): Promise<Connection> {
  const id = peerIdFromString(peer);
  const open = node.getConnections(id).filter((c) => c.status === 'open');
  const have = open.find((c) => !relayed(c.remoteAddr.toString())) ?? open[0];
  if (have) return have;
  const done = new AbortController(); // ends the relayed attempt once libp2p's dial won
  try {
    return await Promise.any([
      node.dial(id, { signal }),
      dialRelayed(node, peer, bootstrap, AbortSignal.any([signal, done.signal])),
    ]);
  } catch (e) {
    const why = ((e as AggregateError).errors ?? [e]).map((x: Error) => x?.message).join('; ');
    throw new Error(`no connection to ${peer}: ${why}`);
  } finally {
    done.abort(new Error('connected'));
  }
}
