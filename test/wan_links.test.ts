// Per-link measured bandwidth of an ONET_WAN job (docs/wan.md "Shaped links"): 2 loopback hosts of
// 1 rank meet through `onet relay`, run 20 exact allreduces of 1 MiB f32, and `onet status --json`
// shows each link's kind, round trip and the bytes/s each way over the last seconds from the native
// transport's per-peer counters; the bytes counted match what an allreduce of 2 hosts must move
// (S per host and allreduce each way) within the protocol's extra (hellos, barriers), and a tunnel's
// own byte counts match the native ones within its framing. No root needed.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BandwidthMeter, BW_WINDOW_MS, type ByteCount } from '../src/p2p/links.js';
import { resultsOf } from '../src/testing/job.js';
import { ROOT } from './helpers.js';
import { runWanJob, wanEnv, withRelayHosts } from './wan_job.js';

const WORKER = join(ROOT, 'test/fixtures/wan_links_worker.mjs');

const net = withRelayHosts(3, (ip) => [`/ip4/${ip}/tcp/0`]);

describe('ONET_WAN links: measured bandwidth in onet status', () => {
  it.each([
    ['direct native TCP', '0', 'native'],
    ['tunnel over libp2p', '1', 'tunnel'],
  ])(
    '%s: bandwidth > 0 and bytes match the allreduces',
    async (_name, tunnel, path) => {
      const { runs } = await runWanJob(
        net.lo,
        [1, 1],
        (h) => ({
          ...wanEnv('links-test-token', net.relay.addrs[0], join(net.state, `t${tunnel}h${h}`)),
          ONET_P2P_TUNNEL: tunnel,
          ONET_TIMEOUT: '30',
          ONET_CONNECT_TIMEOUT: '30',
        }),
        100_000,
        WORKER,
      );
      const res = resultsOf(runs);
      for (const r of res) {
        expect(r.missing, JSON.stringify(r)).toBeUndefined();
        expect(r.wrong, `rank ${r.rank}`).toEqual([]);
        expect(r.ok).toBe(r.n);
      }
      const { wan, text, bytes, n } = res[0];
      console.log(`wan_links (${path}): ${JSON.stringify(wan)}\n${text}`);
      expect(wan, 'onet status --json has a wan part').toBeTruthy();
      expect(wan.links).toHaveLength(1);
      const l = wan.links[0];
      expect([l.host, l.path]).toEqual([1, path]);
      expect(['direct', 'hole-punched', 'relayed']).toContain(l.kind);
      expect(l.rttMs).toBeGreaterThanOrEqual(0);
      expect(l.windowS).toBeGreaterThan(0);
      expect(l.sentBps).toBeGreaterThan(0);
      expect(l.receivedBps).toBeGreaterThan(0);
      // 2 hosts: every allreduce of S bytes sends S and receives S on each host (any algorithm).
      const want = n * bytes;
      for (const got of [l.dataSentBytes, l.dataReceivedBytes]) {
        expect(got).toBeGreaterThanOrEqual(want);
        expect(got).toBeLessThanOrEqual(want * 1.02 + (64 << 10));
      }
      // The rate cannot exceed what was moved within the window.
      expect(l.sentBps * l.windowS).toBeLessThanOrEqual(l.dataSentBytes * 1.01);
      if (path === 'tunnel') {
        // The tunnel carries the native frames: payload plus headers, hellos, heartbeats.
        expect(l.sentBytes).toBeGreaterThanOrEqual(l.dataSentBytes);
        expect(l.sentBytes).toBeLessThanOrEqual(l.dataSentBytes * 1.05 + (256 << 10));
        expect(l.receivedBytes).toBeGreaterThanOrEqual(l.dataReceivedBytes);
        expect(l.tunnelSentBps).toBeGreaterThan(0);
      }
      expect(['public', 'unverified', 'private']).toContain(wan.autonat?.verdict);
      const rate = /[\d.]+ [kMG]?B\/s/.source;
      expect(text).toMatch(new RegExp(`wan link to host 1 .*rtt \\d+ ms, measured ↑ ${rate} ↓ ${rate} over`));
      expect(text).toMatch(/AutoNAT: (public|unverified|private)/);
    },
    130_000,
  );
});

describe('BandwidthMeter', () => {
  it('rates over the last window from cumulative counters', () => {
    let c: ByteCount = { sent: 0, received: 0 };
    const m = new BandwidthMeter(() => new Map([['1', c]]));
    expect(m.rate('1')).toBeUndefined();
    m.sample(0);
    expect(m.rate('1')).toMatchObject({ sentBps: 0, windowS: 0 });
    expect(m.rate('2')).toBeUndefined();
    // 1 MB/s sent, 2 MB/s received for 20 s, sampled every second: the window keeps the last 10 s.
    for (let t = 1; t <= 20; t++) {
      c = { sent: t * 1e6, received: t * 2e6 };
      m.sample(t * 1000);
    }
    expect(m.rate('1')).toEqual({ sentBps: 1e6, receivedBps: 2e6, windowS: BW_WINDOW_MS / 1000, total: c });
    // Idle for the whole window: 0 again.
    for (let t = 21; t <= 32; t++) m.sample(t * 1000);
    expect(m.rate('1')).toMatchObject({ sentBps: 0, receivedBps: 0 });
  });
});
