// Coordinators that reach each other over WebSockets (/ws multiaddrs). @libp2p/websockets dials with a
// global `WebSocket`, which Node 20 lacks ("WebSocket is not defined"): src/p2p/polyfill.ts installs the
// `ws` package's. In one process: two libp2p nodes built as coordinators build them, listening only on
// /ws, dial and ping; a connection reset (libp2p's close(1006), which `ws` refuses to send) drops the
// link on both sides. Then a whole ONET_WAN job on loopback hosts (no root) whose relay and coordinators
// listen only on /ws, the collective bytes tunnelled over the /ws connection, checked exactly.

import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterAll, describe, expect, it } from 'vitest';
import { createP2pNode, type P2pNode } from '../src/p2p/node.js';
import { exactResults, runWanJob, wanEnv, withRelayHosts } from './wan_job.js';

const ip = (i: number) => `127.${1 + (process.pid % 250)}.${230 + i}.1`;
const WS_ONLY = /^\/ip4\/[\d.]+\/tcp\/\d+\/ws\/p2p\/12D3Koo\w+$/;

describe('coordinators dial each other over /ws (WebSockets)', () => {
  const nodes: P2pNode[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });
  const coordinator = async (i: number) => {
    const n = await createP2pNode({
      key: await generateKeyPair('Ed25519'),
      listen: [`/ip4/${ip(i)}/tcp/0/ws`],
      role: 'coordinator',
    });
    nodes.push(n);
    return n;
  };
  const waitFor = async (ok: () => boolean, ms: number) => {
    for (const t0 = Date.now(); !ok() && Date.now() - t0 < ms; ) await new Promise((r) => setTimeout(r, 20));
    return ok();
  };

  it('a /ws dial connects and pings; a reset drops the link on both sides', async () => {
    expect(typeof globalThis.WebSocket, 'a global WebSocket once src/p2p is loaded').toBe('function');
    const [a, b] = [await coordinator(0), await coordinator(1)];
    const addr = a.getMultiaddrs()[0];
    expect(addr.toString()).toMatch(WS_ONLY);
    const conn = await b.dial(addr, { signal: AbortSignal.timeout(10_000) });
    expect(conn.remoteAddr.toString()).toMatch(/\/ws\//);
    const rtt = await b.services.ping.ping(addr, { signal: AbortSignal.timeout(10_000) });
    expect(rtt).toBeGreaterThanOrEqual(0);
    conn.abort(new Error('reset by the test'));
    expect(
      await waitFor(() => a.getConnections(b.peerId).length === 0, 10_000),
      'the reset reached the other side',
    ).toBe(true);
    // A fresh dial after the reset works.
    expect(await b.services.ping.ping(addr, { signal: AbortSignal.timeout(10_000) })).toBeGreaterThanOrEqual(0);
  }, 30_000);
});

describe('an ONET_WAN job whose hosts listen only on /ws', () => {
  const net = withRelayHosts(3, (ip) => [`/ip4/${ip}/tcp/0/ws`]);

  it('2 hosts meet through a /ws relay, tunnel their collectives over /ws, exact results', async () => {
    expect(net.relay.addrs[0]).toMatch(WS_ONLY);
    const { runs, logs } = await runWanJob(
      net.lo,
      [1, 1],
      (h) => ({
        ...wanEnv('ws-test-token', net.relay.addrs[0], join(net.state, `host${h}`)),
        ONET_P2P_LISTEN: `/ip4/${net.lo.hosts[h].ip}/tcp/0/ws`,
        ONET_P2P_TUNNEL: '1',
        ONET_P2P_STATUS: '1',
        ONET_TIMEOUT: '30',
        ONET_CONNECT_TIMEOUT: '30',
      }),
      60_000,
    );
    const res = exactResults(runs, 40);
    for (const l of logs) expect(l, 'coordinators never say WebSocket is undefined').not.toMatch(/WebSocket is not/);
    const link = res[0].wan?.links?.[0];
    expect(link, `onet status --json shows the link: ${JSON.stringify(res[0].wan)}`).toBeDefined();
    expect([link.host, link.path]).toEqual([1, 'tunnel']);
    expect(link.remote, 'the libp2p connection carrying the tunnel is a WebSocket').toMatch(/\/ws(\/|$)/);
    expect(link.sentBytes).toBeGreaterThan(0);
  }, 90_000);
});
