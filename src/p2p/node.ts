// One js-libp2p node: Ed25519 identity, Noise encryption, yamux multiplexing, TCP and WebSockets,
// identify and ping, a Kademlia DHT on OpenNetworks' own protocol id (never the public IPFS DHT),
// and the NAT tools: AutoNAT, circuit relay v2 (a client on coordinators, a server on `onet relay`),
// DCUtR hole punching and UPnP. `role: 'relay'` is a public bootstrap node (src/cli/relay.ts).
import './polyfill.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { autoNAT } from '@libp2p/autonat';
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { dcutr } from '@libp2p/dcutr';
import { identify, identifyPush } from '@libp2p/identify';
import { FaultTolerance, type Libp2p, type PrivateKey } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { type Ping, ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { OnetError } from '../errors.js';
import { serveRegistry } from './registry.js';

/** Our DHT, apart from the public Amino DHT: only OpenNetworks nodes take part. */
export const DHT_PROTOCOL = '/onet/kad/1.0.0';

export interface P2pOptions {
  key: PrivateKey;
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001 and /ip4/0.0.0.0/tcp/4002/ws. */
  listen: string[];
  role: 'coordinator' | 'relay';
  /** Bootstrap/relay multiaddrs with /p2p/<id> (coordinators reserve a relayed address there). */
  bootstrap?: string[];
  mdns?: boolean;
  /** Ask the LAN's router for a port mapping (UPnP IGD); off in tests. */
  upnp?: boolean;
  /** Addresses to announce instead of the listening ones (a relay behind a 1:1 NAT). */
  announce?: string[];
}

export type P2pNode = Libp2p<{ ping: Ping; dht: KadDHT } & Record<string, unknown>>;

/** Parse a comma-separated multiaddr list from a setting; names the setting on a bad entry. */
export function multiaddrList(text: string, what: string, needPeer = false): string[] {
  const out = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const a of out) {
    try {
      const m = multiaddr(a);
      if (needPeer && !m.getComponents().some((c) => c.name === 'p2p'))
        throw new Error('it has no /p2p/<peer id> part (copy the full address `onet relay` prints)');
    } catch (e) {
      throw new OnetError('EINVAL', `${what}: ${JSON.stringify(a)} is not a usable multiaddr: ${(e as Error).message}`);
    }
  }
  return out;
}

export async function createP2pNode(o: P2pOptions): Promise<P2pNode> {
  const relay = o.role === 'relay';
  const listen = [...o.listen];
  // A coordinator asks each bootstrap relay for a reservation: peers behind NAT reach it through them.
  // (Each relay by name: the bare '/p2p-circuit' search spins on an idle network in libp2p 3.3.)
  if (!relay) for (const b of o.bootstrap ?? []) listen.push(`${b}/p2p-circuit`);
  const services: Record<string, any> = {
    identify: identify(),
    identifyPush: identifyPush(),
    // links.ts pings every link every 5 s and libp2p's connection monitor every 10 s, on the same
    // protocol: over a link saturated by a tunnel they overlap, and the default limit of one
    // outbound ping stream per connection aborted the whole (relayed) connection.
    ping: ping({ maxOutboundStreams: 8, maxInboundStreams: 8 }),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper, // private LANs and loopback test hosts are real peers here
      allowQueryWithZeroPeers: true,
    }),
    autoNAT: autoNAT(),
  };
  if (relay)
    services.relay = circuitRelayServer({
      // Collective bytes may cross a relayed link: no 2-minute / 128 KiB cap per circuit.
      reservations: { maxReservations: 1024, applyDefaultLimit: false },
    });
  else services.dcutr = dcutr();
  // Loaded only when used (a coordinator's start-up, once per job and epoch, loads the rest).
  if (o.upnp) services.upnp = (await import('@libp2p/upnp-nat')).uPnPNAT();
  const discovery = o.mdns ? [(await import('@libp2p/mdns')).mdns({ interval: 1000 })] : [];
  try {
    const node = await createLibp2p({
      privateKey: o.key,
      addresses: { listen, ...(o.announce?.length ? { announce: o.announce } : {}) },
      transports: [tcp(), webSockets(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      // A bounded stream window (default grows to 16 MiB) keeps little queued ahead of the native heartbeats
      // and pings a tunnel carries beside data (docs/wan.md "Shaped links").
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 2 << 20 } })],
      peerDiscovery: discovery,
      services,
      connectionManager: { maxConnections: 512 },
      // A tunnel can keep a link busy for seconds (16 MiB at relay speed): a slow ping must not abort
      // the connection and the tunnel with it. Lost hosts are the native transport's heartbeats' job.
      connectionMonitor: { abortConnectionOnPingFailure: false },
      // A relay that is down at start must not stop the node (the rendezvous dials it again, without a reservation).
      transportManager: { faultTolerance: FaultTolerance.NO_FATAL },
    });
    if (relay) await serveRegistry(node);
    return node as unknown as P2pNode;
  } catch (e) {
    throw new OnetError('EINVAL', `cannot start the libp2p node on ${listen.join(', ')}: ${(e as Error).message}`);
  }
}

/** Full addresses of a node, each ending /p2p/<peer id> (the form ONET_P2P_BOOTSTRAP takes). */
export function fullAddrs(node: Libp2p): string[] {
  const id = node.peerId.toString();
  return node.getMultiaddrs().map((m) => {
    const s = m.toString();
    return s.includes(`/p2p/${id}`) ? s : `${s}/p2p/${id}`;
  });
}
