// TCP hole punching between two coordinators that only share a relayed libp2p connection (both
// behind NAT). js-libp2p's DCUtR cannot do it: its TCP transport dials from a fresh ephemeral port
// and identify ignores observed TCP addresses (js-libp2p#2620); @chainsafe/libp2p-quic dials from
// a separate client-only UDP socket that never accepts. So this does what DCUtR does for TCP, with
// ports it chooses itself (docs/wan.md "Hole punching"):
//   1. each side dials the relay once more from a port it picked and asks identify what the relay
//      saw: its public IP, and whether the NAT kept the port (port-preserving) or not (symmetric);
//   2. over the relayed connection (PUNCH_PROTOCOL, job token proof bound to both peer ids) the
//      initiator (lower peer id) and the responder swap {ip, port} — a fresh local port each;
//   3. the initiator measures the round trip, sends `sync`, waits half of it, and both dial each
//      other's public ip:port from their chosen local port at once (TCP simultaneous open): each
//      NAT lets the other's SYN in as the reply to its own. libp2p upgrades the socket as usual
//      (Noise, yamux; the responder acts as the Noise responder), so the peers end up with a
//      second, direct connection, which links.ts reports as `hole-punched` and tunnel.ts prefers.
// A symmetric NAT (random source ports) fails step 1's check, or step 3: the link stays relayed.
import net from 'node:net';
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { prove } from '../security/auth.js';
import type { P2pNode } from './node.js';
import type { TunnelOptions } from './tunnel.js';

export const PUNCH_PROTOCOL = '/onet/holepunch/1.0.0';
const PUNCH_VERSION = 1;
const MAX_BYTES = 2048;
/** Messages over the relay, and the identify of the probe connection. */
const STEP_MS = 5000;
/** One simultaneous dial: the SYNs are retransmitted at 1 s and 3 s. */
const DIAL_MS = 4000;
const ATTEMPTS = 2;
/** How long the responder's forwarder waits at most for the initiator's attempts to end. */
export const PUNCH_WAIT_MS = 15_000;

interface PunchMsg {
  type: 'connect' | 'sync' | 'done';
  v: number;
  job?: string;
  ip?: string;
  port?: number;
  /** Set when this side cannot punch (e.g. its NAT does not keep ports): both stop. */
  why?: string;
  /** The initiator's last attempt: the responder stops waiting when it fails. */
  last?: boolean;
  auth?: ReturnType<typeof prove>;
}
const parts = (job: string, from: string, to: string) => ['wan-punch', PUNCH_VERSION, job, from, to];

const isRelayed = (c: Connection) => c.remoteAddr.toString().includes('/p2p-circuit');
const open = (node: P2pNode, peer: string) =>
  node.getConnections(peerIdFromString(peer)).filter((c) => c.status === 'open');
/** A direct (not relayed) open connection to `peer`, if any. */
export const directConnection = (node: P2pNode, peer: string) => open(node, peer).find((c) => !isRelayed(c));

/** This host listens only through relays (ONET_P2P_LISTEN=<relay>/p2p-circuit): it asked for no direct path. */
const relayOnly = (node: P2pNode) => node.getMultiaddrs().every((m) => m.toString().includes('/p2p-circuit'));
const RELAY_ONLY = 'this host listens only through a relay (ONET_P2P_LISTEN)';

/** A free local TCP port (bound and released at once; the dial binds it again). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** libp2p's internals this needs: the transport for an address, and the connection upgrader. */
interface Upgrader {
  upgradeOutbound(maConn: { direction: string }, o: unknown): Promise<Connection>;
}
interface Internals {
  transportManager: {
    dialTransportForMultiaddr(ma: ReturnType<typeof multiaddr>): {
      dial(ma: ReturnType<typeof multiaddr>, o: Record<string, unknown>): Promise<Connection>;
    } | null;
  };
  upgrader: Upgrader;
}
const internals = (node: P2pNode) => (node as unknown as { components: Internals }).components;

/**
 * Dial `ma` from local port `localPort` with libp2p's own transport (no dial queue, so options such
 * as localPort reach net.connect). After a simultaneous open both sockets are "outbound": the side
 * with `initiator: false` is made the inbound end (Noise responder, multistream listener, yamux
 * server), as DCUtR's B would be; else both would be yamux clients ("Both endpoints are clients").
 */
async function dialFrom(node: P2pNode, address: string, localPort: number, initiator: boolean, ms: number) {
  const c = internals(node);
  const ma = multiaddr(address);
  const transport = c.transportManager.dialTransportForMultiaddr(ma);
  if (!transport) throw new Error(`no libp2p transport dials ${address}`);
  const upgrader: Upgrader = initiator
    ? c.upgrader
    : {
        upgradeOutbound(maConn, o) {
          maConn.direction = 'inbound';
          return c.upgrader.upgradeOutbound(maConn, o);
        },
      };
  // The signal reaches net.connect, which destroys the socket whenever it fires, even long after the
  // connect: so a timer that is cleared once the dial is done, never AbortSignal.timeout().
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no connection within ${ms} ms`)), ms);
  try {
    return await transport.dial(ma, { signal: ac.signal, localPort, initiator, upgrader });
  } finally {
    clearTimeout(timer);
  }
}

export interface Observation {
  /** Public IP as the relay saw it ('' when unknown). */
  ip: string;
  /** Why this host cannot punch ('' when it can). */
  why: string;
}

/** Ask the relay (over a new TCP connection from a port we picked) what it sees of us. */
async function observe(node: P2pNode, relay: string): Promise<Observation> {
  if (!/^\/ip[46]\/[^/]+\/tcp\/\d+\/p2p\/[^/]+$/.test(relay))
    return { ip: '', why: `the relay connection ${relay} is not plain TCP` };
  const localPort = await freePort();
  const seen = new Map<string, string>();
  const onIdentify = (e: CustomEvent<{ connection: Connection; observedAddr?: { toString(): string } }>) =>
    seen.set(e.detail.connection.id, String(e.detail.observedAddr ?? ''));
  node.addEventListener('peer:identify', onIdentify as never);
  let conn: Connection | undefined;
  try {
    conn = await dialFrom(node, relay, localPort, true, STEP_MS);
    for (let t = 0; !seen.has(conn.id) && t < STEP_MS; t += 50) await new Promise((r) => setTimeout(r, 50));
    const obs = seen.get(conn.id) ?? '';
    const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(obs);
    if (!m) return { ip: '', why: `the relay reported no observed TCP address (${obs || 'none'})` };
    if (Number(m[2]) !== localPort)
      return {
        ip: m[1],
        why: `this host's NAT does not keep source ports (port ${localPort} left as ${m[1]}:${m[2]}: symmetric NAT)`,
      };
    return { ip: m[1], why: '' };
  } catch (e) {
    return { ip: '', why: `probing the relay ${relay} failed: ${(e as Error).message}` };
  } finally {
    node.removeEventListener('peer:identify', onIdentify as never);
    if (conn) void conn.close().catch(() => {});
  }
}

/** The relay's own address (with /p2p/<relay id>) from a relayed connection's remote address. */
const relayOf = (c: Connection) => c.remoteAddr.toString().split('/p2p-circuit')[0];

/** Log when a hole-punched connection ends (the tunnel then falls back to the relay). */
const watch = (o: TunnelOptions, c: Connection) =>
  c.addEventListener('close', (e) => {
    const why = (e as { error?: Error }).error?.message;
    o.log('warn', `hole-punched connection to ${c.remotePeer} (${c.remoteAddr}) closed${why ? `: ${why}` : ''}`);
  });

/** Per node and peer: settles when the initiator's attempt with that peer ended (the responder waits). */
const settled = new WeakMap<P2pNode, Map<string, { promise: Promise<void>; resolve: () => void }>>();
function settle(node: P2pNode, peer: string) {
  let m = settled.get(node);
  if (!m) settled.set(node, (m = new Map()));
  let s = m.get(peer);
  if (!s) {
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    s = { promise, resolve };
    m.set(peer, s);
  }
  return s;
}

async function readMsg(lp: ReturnType<typeof lpStream>, signal: AbortSignal): Promise<PunchMsg> {
  const m = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray())) as PunchMsg;
  if (m?.v !== PUNCH_VERSION || typeof m.type !== 'string') throw new Error('not a hole punching message');
  return m;
}
const writeMsg = (lp: ReturnType<typeof lpStream>, m: PunchMsg, signal: AbortSignal) =>
  lp.write(new TextEncoder().encode(JSON.stringify(m)), { signal });
const target = (m: PunchMsg, peer: string) => {
  const ip = String(m.ip ?? '');
  const port = Number(m.port);
  if (!net.isIP(ip) || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`it sent no usable address (${JSON.stringify(m.ip)}:${JSON.stringify(m.port)})`);
  return `/${net.isIPv6(ip) ? 'ip6' : 'ip4'}/${ip}/tcp/${port}/p2p/${peer}`;
};

/**
 * Try to open a direct connection to `peer` when the only one is relayed. Returns what happened,
 * for the log ('' when there was nothing to do: a direct connection, or none); never throws. The
 * responder side waits (bounded) for the initiator's attempts.
 */
export async function holePunch(o: TunnelOptions, peer: string): Promise<string> {
  const me = o.node.peerId.toString();
  // Already direct: on the responder, because the initiator's punch (serve() below) finished first.
  if (directConnection(o.node, peer)) return settled.get(o.node)?.has(peer) ? 'hole-punched (responder)' : '';
  const relayed = open(o.node, peer).find(isRelayed);
  if (!relayed) return '';
  if (me > peer) {
    if (relayOnly(o.node)) return ''; // serve() tells the initiator why
    // The responder: serve() below answers the initiator; wait for the end of its attempt.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      settle(o.node, peer).promise,
      new Promise((r) => {
        timer = setTimeout(r, PUNCH_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    return directConnection(o.node, peer) ? 'hole-punched (responder)' : 'no direct connection: relayed';
  }
  let last = '';
  for (let attempt = 1; attempt <= ATTEMPTS && !directConnection(o.node, peer); attempt++) {
    const signal = AbortSignal.timeout(3 * STEP_MS + DIAL_MS);
    let stream: Stream | undefined;
    try {
      const obs = relayOnly(o.node) ? { ip: '', why: RELAY_ONLY } : await observe(o.node, relayOf(relayed));
      const port = await freePort();
      stream = await relayed.newStream(PUNCH_PROTOCOL, { signal, runOnLimitedConnection: true });
      const lp = lpStream(stream, { maxDataLength: MAX_BYTES });
      const t0 = Date.now();
      const hello: PunchMsg = { type: 'connect', v: PUNCH_VERSION, job: o.job, ip: obs.ip, port, why: obs.why };
      hello.last = attempt === ATTEMPTS;
      hello.auth = prove(o.token, parts(o.job, me, peer));
      await writeMsg(lp, hello, signal);
      const reply = await readMsg(lp, signal);
      if (reply.type !== 'connect') throw new Error(String(reply.why ?? `answered ${reply.type}`));
      if (obs.why || reply.why) {
        last = obs.why ? `here: ${obs.why}` : `there: ${reply.why}`;
        break; // a NAT that does not keep ports stays so: no second attempt
      }
      const to = target(reply, peer);
      const rtt = Date.now() - t0;
      await writeMsg(lp, { type: 'sync', v: PUNCH_VERSION }, signal);
      await new Promise((r) => setTimeout(r, rtt / 2));
      o.log('debug', `hole punching to ${peer}: dialling ${to} from local port ${port} (relay rtt ${rtt} ms)`);
      const conn = await dialFrom(o.node, to, port, true, DIAL_MS);
      last = `hole-punched: ${conn.remoteAddr} (attempt ${attempt})`;
      watch(o, conn);
    } catch (e) {
      last = `attempt ${attempt}: ${(e as Error).message}`;
    } finally {
      stream?.abort(new Error('done'));
    }
  }
  return directConnection(o.node, peer) ? last : `no direct connection (${last}): relayed`;
}

/** Answer hole punching requests from the job's peers (registered next to the tunnel handler). */
export async function servePunches(o: TunnelOptions): Promise<void> {
  const me = o.node.peerId.toString();
  await o.node.handle(
    PUNCH_PROTOCOL,
    (stream: Stream, conn: Connection) => {
      const peer = conn.remotePeer.toString();
      const signal = AbortSignal.timeout(3 * STEP_MS + DIAL_MS);
      let final = true; // this exchange decides: success, refusal, a NAT that cannot punch, or the last attempt
      void (async () => {
        const lp = lpStream(stream, { maxDataLength: MAX_BYTES });
        const hello = await readMsg(lp, signal);
        const bad =
          hello.type !== 'connect' || hello.job !== o.job
            ? `asked for job ${JSON.stringify(hello.job)}, this is ${o.job}`
            : o.verifier.verify(o.token, hello.auth, parts(o.job, peer, me));
        if (bad) {
          o.verifier.refusals++;
          o.log('warn', `WAN hole punching from ${peer} refused: ${bad}`);
          await writeMsg(lp, { type: 'done', v: PUNCH_VERSION, why: `refused: ${bad}` }, signal);
          return;
        }
        final = Boolean(hello.last || hello.why);
        const obs = relayOnly(o.node)
          ? { ip: '', why: RELAY_ONLY }
          : isRelayed(conn)
            ? await observe(o.node, relayOf(conn))
            : { ip: '', why: 'not relayed' };
        const port = await freePort();
        await writeMsg(lp, { type: 'connect', v: PUNCH_VERSION, ip: obs.ip, port, why: obs.why }, signal);
        if (obs.why || hello.why) {
          final = true;
          return;
        }
        const to = target(hello, peer);
        const sync = await readMsg(lp, signal);
        if (sync.type !== 'sync') return;
        o.log('debug', `hole punching from ${peer}: dialling ${to} from local port ${port}`);
        watch(o, await dialFrom(o.node, to, port, false, DIAL_MS));
      })()
        .catch((e) => o.log('debug', `hole punching with ${peer}: ${(e as Error).message}`))
        .finally(() => {
          stream.abort(new Error('done'));
          // After a failed attempt that is not the last, the initiator tries again: keep waiting.
          if (final || directConnection(o.node, peer)) settle(o.node, peer).resolve();
        });
    },
    { maxInboundStreams: 4, runOnLimitedConnection: true },
  );
}
