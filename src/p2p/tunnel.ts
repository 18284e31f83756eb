// The native transport over libp2p streams, for hosts that met over libp2p but cannot reach each
// other's data address directly (both behind NAT, only a relay or a hole-punched path in common).
// Per such host this coordinator listens on 127.0.0.1 (a forwarder); every TCP connection the native
// transport makes to it becomes one libp2p stream (TUNNEL_PROTOCOL) to that host's coordinator, which
// connects it to its own native listener and pipes the bytes both ways. The native transport names
// its peers by the rank in its handshake (native/transport/common/hello.h), never by source address,
// so it works unchanged; it only gets the forwarders' addresses in netConnect's list. A stream opens
// with one length-prefixed JSON message proving the job token (bound to both peer ids, nonces
// remembered: messages.ts / security/auth.ts), answered `ok` or `refused` before any data flows.
import net from 'node:net';
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { type Auth, prove, type Verifier } from '../security/auth.js';
import { directConnection, holePunch, servePunches } from './holepunch.js';
import type { P2pNode } from './node.js';

export const TUNNEL_PROTOCOL = '/onet/tunnel/1.0.0';
const TUNNEL_VERSION = 1;
const OPEN_MS = 10_000;
const MAX_OPEN_BYTES = 4096;

interface TunnelOpen {
  type: 'tunnel';
  v: number;
  job: string;
  auth?: Auth;
}
const openParts = (job: string, from: string, to: string) => ['wan-tunnel', TUNNEL_VERSION, job, from, to];

export interface TunnelOptions {
  node: P2pNode;
  job: string;
  token: string;
  verifier: Verifier;
  /** ip:port of this host's native listener (where inbound tunnels connect). */
  local: string;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
}

/** Bytes carried by this process's tunnels (onet status shows them per link). */
export interface TunnelCounters {
  sent: number;
  received: number;
}
/** Per peer id, both directions of the tunnels: opened here (forwarders) and accepted from it. */
const counters = new Map<string, TunnelCounters>();
export function tunnelCounters(peer: string): TunnelCounters {
  let c = counters.get(peer);
  if (!c) counters.set(peer, (c = { sent: 0, received: 0 }));
  return c;
}

const splitAddr = (a: string) => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
};

/** Pipe a TCP socket and a libp2p stream both ways, with backpressure, until either ends. */
export function pipeSocket(sock: net.Socket, stream: Stream, count?: TunnelCounters): void {
  sock.setNoDelay(true);
  stream.maxReadBufferLength = 64 << 20;
  stream.addEventListener('message', (e) => {
    const data = e.data.subarray();
    if (count) count.received += data.length;
    if (!sock.write(data)) {
      stream.pause();
      sock.once('drain', () => stream.resume());
    }
  });
  stream.addEventListener('remoteCloseWrite', () => sock.end());
  stream.addEventListener('close', (e) => {
    if (e.error) sock.destroy();
    else sock.end();
  });
  sock.on('data', (buf: Buffer) => {
    if (count) count.sent += buf.length;
    try {
      if (!stream.send(buf)) {
        sock.pause();
        stream.onDrain().then(
          () => sock.resume(),
          () => sock.destroy(),
        );
      }
    } catch {
      sock.destroy();
    }
  });
  sock.on('end', () => void stream.close().catch(() => {}));
  sock.on('error', () => {});
  sock.on('close', () => {
    if (stream.status === 'open') stream.abort(new Error('the native transport closed its socket'));
  });
  sock.resume();
}

/** Accept tunnels from the job's peers: each authenticated stream is connected to the native listener. */
export async function serveTunnels(o: TunnelOptions): Promise<void> {
  const me = o.node.peerId.toString();
  await servePunches(o);
  const target = splitAddr(o.local);
  await o.node.handle(
    TUNNEL_PROTOCOL,
    (stream: Stream, conn: Connection) => {
      const peer = conn.remotePeer.toString();
      void (async () => {
        const lp = lpStream(stream, { maxDataLength: MAX_OPEN_BYTES });
        const signal = AbortSignal.timeout(OPEN_MS);
        let why = '';
        try {
          const m = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray())) as TunnelOpen;
          if (m?.type !== 'tunnel' || m.v !== TUNNEL_VERSION) why = `sent no tunnel version ${TUNNEL_VERSION} request`;
          else if (m.job !== o.job) why = `asked for job ${JSON.stringify(m.job)}, this is ${o.job}`;
          else {
            const bad = o.verifier.verify(o.token, m.auth, openParts(m.job, peer, me));
            if (bad) why = `has no valid proof of the job token: ${bad}`;
          }
        } catch (e) {
          why = `sent a malformed tunnel request: ${(e as Error).message}`;
        }
        const reply = why
          ? { type: 'refused', error: `coordinator ${me} (job ${o.job}) refused a tunnel: it ${why}` }
          : { type: 'ok' };
        try {
          await lp.write(new TextEncoder().encode(JSON.stringify(reply)), { signal });
        } catch {
          why ||= 'went away';
        }
        if (why) {
          o.verifier.refusals++;
          o.log('warn', `WAN tunnel from ${peer} refused: it ${why}`);
          stream.abort(new Error(why));
          return;
        }
        const raw = lp.unwrap();
        raw.pause(); // until the native listener answers
        const sock = net.connect({ host: target.host, port: target.port });
        sock.once('connect', () => {
          pipeSocket(sock, raw, tunnelCounters(peer));
          raw.resume();
        });
        sock.once('error', (e) => {
          o.log('warn', `WAN tunnel from ${peer}: this host's native listener ${o.local}: ${e.message}`);
          raw.abort(e);
        });
      })().catch((e) => stream.abort(e as Error));
    },
    { maxInboundStreams: 1024, runOnLimitedConnection: true },
  );
}

/** One local forwarder: 127.0.0.1:port whose connections become tunnels to `peer`. */
export interface Forwarder {
  host: number;
  peer: string;
  /** The address the native transport dials instead of the host's own. */
  addr: string;
  count: TunnelCounters;
  close(): void;
}

/**
 * A new stream to `peer` over the best connection: a direct or hole-punched one when there is one
 * (the relayed connection stays open beside it), else whatever libp2p has or dials.
 */
function openTunnelStream(o: TunnelOptions, peer: string, signal: AbortSignal): Promise<Stream> {
  const direct = directConnection(o.node, peer);
  if (direct) return direct.newStream(TUNNEL_PROTOCOL, { signal });
  return o.node.dialProtocol(peerIdFromString(peer), TUNNEL_PROTOCOL, { signal, runOnLimitedConnection: true });
}

export async function openForwarder(o: TunnelOptions, host: number, peer: string): Promise<Forwarder> {
  const me = o.node.peerId.toString();
  // Only a relayed libp2p connection to that host: try for a direct one first (holepunch.ts), so
  // that the native transport's connections, made right after this, take it.
  const t0 = Date.now();
  const punched = await holePunch(o, peer);
  if (punched) o.log('info', `host ${host} (${peer}): hole punching: ${punched} (${Date.now() - t0} ms)`);
  const count = tunnelCounters(peer);
  const socks = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    sock.on('error', () => {});
    void (async () => {
      const signal = AbortSignal.timeout(OPEN_MS);
      const stream = await openTunnelStream(o, peer, signal);
      const lp = lpStream(stream, { maxDataLength: MAX_OPEN_BYTES });
      const open: TunnelOpen = { type: 'tunnel', v: TUNNEL_VERSION, job: o.job };
      open.auth = prove(o.token, openParts(o.job, me, peer));
      await lp.write(new TextEncoder().encode(JSON.stringify(open)), { signal });
      const reply = JSON.parse(new TextDecoder().decode((await lp.read({ signal })).subarray()));
      if (reply?.type !== 'ok') {
        stream.abort(new Error('refused'));
        throw new Error(String(reply?.error ?? 'an unknown answer'));
      }
      if (sock.destroyed) return stream.abort(new Error('the native transport gave up on this socket'));
      pipeSocket(sock, lp.unwrap(), count);
    })().catch((e) => {
      o.log('warn', `WAN tunnel to host ${host} (${peer}): ${(e as Error).message}`);
      sock.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    peer,
    addr: `127.0.0.1:${port}`,
    count,
    close() {
      server.close();
      for (const s of socks) s.destroy();
    },
  };
}

/** Whether `addr` (ip:port) answers a TCP connect within `ms`. */
export function reachable(addr: string, ms: number): Promise<boolean> {
  const { host, port } = splitAddr(addr);
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), ms);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
