// ONET_WAN hosts that share only a relayed libp2p path (loopback hosts, no root): each coordinator
// listens for libp2p only through `onet relay`'s circuit (ONET_P2P_LISTEN = the relay's address +
// /p2p-circuit, no TCP listener of its own), and announces an unreachable data address
// (ONET_TEST_ADVERTISE=192.0.2.1:port, TEST-NET), so a direct native connect cannot work. The
// coordinators meet through the relay, find the data addresses dead and carry the native transport
// over libp2p streams through the relay (src/p2p/tunnel.ts): every collective exact, a killed host
// named on the others, survivors shrink and go on, and `onet status` shows the links relayed/tunnel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsOf } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { ROOT } from './helpers.js';
import { type Relay, runWanJob, startRelay, wanEnv } from './wan_job.js';

const SWEEP_WORKER = join(ROOT, 'test/fixtures/collectives_worker.mjs');

let lo: Loopback;
let state: string;
let relay: Relay | undefined;

/** Env of host h of a relay-only job: libp2p only through the relay, a dead data address. */
const relayOnly = (name: string, h: number, extra: NodeJS.ProcessEnv = {}) => ({
  ...wanEnv(`tunnel-${name}-token`, relay!.addrs[0], join(state, `${name}${h}`)),
  ONET_P2P_LISTEN: `${relay!.addrs[0]}/p2p-circuit`,
  ONET_TEST_ADVERTISE: `192.0.2.1:${1001 + h}`,
  ONET_HEARTBEAT_MS: '300',
  ONET_TIMEOUT: '30',
  ONET_CONNECT_TIMEOUT: '40',
  ...extra,
});

beforeAll(async () => {
  lo = await createLoopback(4);
  state = mkdtempSync(join(tmpdir(), 'onet-tunnel-'));
  relay = await startRelay([`/ip4/${lo.hosts[3].ip}/tcp/0`], join(state, 'relay'));
}, 60_000);
afterAll(async () => {
  relay?.proc.kill('SIGKILL');
  await lo?.destroy();
  rmSync(state, { recursive: true, force: true });
});

describe('ONET_WAN over a relay only: the native transport tunnelled over libp2p', () => {
  // Hosts of 2 + 1 ranks: with three hosts, a survivor may first get the other survivor's abort notice,
  // which the engine blames on its sender (native/engine/abort.cc), a race the tunnel's latency widens.
  it('2 hosts (2+1 ranks): exact allreduces through the relay, a killed host is named, shrink', async () => {
    const t0 = Date.now();
    const { runs, logs } = await runWanJob(
      lo,
      [2, 1],
      (h) => relayOnly('kill', h, { ONET_P2P_KILL_RANK: '2', ONET_P2P_STATUS: '1' }),
      90_000,
    );
    const res = resultsOf(runs);
    console.log(`tunnelled WAN job: ${Date.now() - t0} ms;`, JSON.stringify(res.slice(0, 2)));
    for (const r of res.slice(0, 2)) {
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong, `rank ${r.rank}`).toEqual([]);
      // 10, or 9: the killed host's last bytes of allreduce #10 may still sit in its coordinator's
      // tunnel (a process, where direct TCP has the kernel's buffers) when it dies; that one fails too.
      expect(r.ok, `rank ${r.rank}: exact allreduces before the kill`).toBeGreaterThanOrEqual(9);
      expect(r.error.code).toBe('EABORTED');
      expect(r.error.ranks).toEqual([2]);
      expect(r.error.message).toMatch(/host 1 \(127\.0\.0\.1:\d+\)/); // the forwarder's address
      expect(r.ok + r.after, `rank ${r.rank}: exact allreduces after shrink`).toBe(39);
    }
    expect(runs[2].code).not.toBe(0);
    const wan = res[0].wan;
    expect(wan, 'onet status --json has a wan part').toBeDefined();
    console.log(`onet status wan part: ${JSON.stringify(wan)}`);
    expect(wan.links.map((l: any) => [l.host, l.kind, l.path])).toEqual([[1, 'relayed', 'tunnel']]);
    for (const l of wan.links) {
      expect(l.remote).toMatch(/\/p2p-circuit/);
      expect(l.sentBytes).toBeGreaterThan(0);
      expect(l.receivedBytes).toBeGreaterThan(0);
    }
    for (const h of [0, 1]) {
      expect(logs[h], `host ${h}`).toMatch(/its data address 192\.0\.2\.1:\d+ does not answer/);
      expect(logs[h]).toMatch(/a tunnel over libp2p \(\/onet\/tunnel\/1\.0\.0\)/);
    }
  }, 120_000);

  it('2 hosts: every collective × dtype × op exact over the tunnel (ONET_P2P_TUNNEL=1)', async () => {
    const { runs, logs } = await runWanJob(
      lo,
      [1, 1],
      (h) => relayOnly('sweep', h, { ONET_P2P_TUNNEL: '1', ONET_TEST_COUNTS: '0,1,4097' }),
      90_000,
      SWEEP_WORKER,
    );
    const res = resultsOf(runs);
    for (const r of res) {
      expect(r.missing, JSON.stringify(r).slice(0, 2000)).toBeUndefined();
      expect(r.failures, `rank ${r.rank}`).toEqual([]);
      expect(r.cases).toBeGreaterThan(50);
    }
    console.log(`collective sweep over the tunnel: ${res.map((r) => r.cases).join(', ')} cases, all exact`);
    for (const l of logs) expect(l).toMatch(/ONET_P2P_TUNNEL=1; the native transport reaches it through 127\.0\.0\.1/);
  }, 120_000);
});
