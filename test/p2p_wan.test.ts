// ONET_WAN jobs end to end on loopback hosts (no root): `onet relay` on one address as the public
// bootstrap, coordinators on the others that meet over libp2p (src/p2p) while ONET_BOOTSTRAP and
// MASTER_ADDR point nowhere (192.0.2.1, TEST-NET: a meeting there would time out), then run
// collectives on the native TCP transport and check them exactly; a host killed mid-loop is
// named on the others within the heartbeat time and the survivors shrink and go on exactly.
// The rendezvous itself, its refusals and fuzzing: test/p2p_meet.test.ts.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsOf } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { ROOT } from './helpers.js';
import { NOWHERE, type Relay, runWanJob, startRelay, wanEnv } from './wan_job.js';

let lo: Loopback;
let state: string;
const procs: ChildProcess[] = [];

/** `onet relay` on `ip`, TCP and WebSockets (killed after all). */
async function relayOn(ip: string, dir: string): Promise<Relay> {
  const r = await startRelay([`/ip4/${ip}/tcp/0`, `/ip4/${ip}/tcp/0/ws`], dir);
  procs.push(r.proc);
  return r;
}

let relay: Relay;

beforeAll(async () => {
  lo = await createLoopback(4);
  state = mkdtempSync(join(tmpdir(), 'onet-p2p-'));
});
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await lo?.destroy();
  rmSync(state, { recursive: true, force: true });
});

describe('ONET_WAN jobs over libp2p (loopback hosts)', () => {
  it('onet relay prints full multiaddrs with /p2p/<peer id> and keeps its identity across restarts', async () => {
    const ip = lo.hosts[3].ip;
    const first = await relayOn(ip, join(state, 'relay'));
    first.proc.kill('SIGTERM');
    await new Promise((r) => first.proc.once('exit', r));
    relay = await relayOn(ip, join(state, 'relay'));
    expect(relay.peerId).toBe(first.peerId);
    expect(relay.addrs).toHaveLength(2);
    expect(relay.addrs[0]).toMatch(new RegExp(`^/ip4/${ip.replace(/\./g, '\\.')}/tcp/\\d+/p2p/${relay.peerId}$`));
    expect(relay.addrs[1]).toMatch(/\/tcp\/\d+\/ws\/p2p\/12D3Koo/);
  }, 60_000);

  it('3 hosts meet via the relay, not MASTER_ADDR; exact collectives; a killed host is named; shrink', async () => {
    expect(relay, 'the relay test runs first').toBeDefined();
    const t0 = Date.now();
    const { runs, logs } = await runWanJob(
      lo,
      [1, 1, 1],
      (h) => ({
        ...wanEnv('p2p-test-token', relay.addrs[0], join(state, `host${h}`)),
        ONET_P2P_KILL_RANK: '2',
        ONET_P2P_STATUS: '1',
        ONET_HEARTBEAT_MS: '300',
        ONET_TIMEOUT: '30',
        ONET_CONNECT_TIMEOUT: '40',
      }),
      90_000,
    );
    const res = resultsOf(runs);
    console.log(`WAN job: ${Date.now() - t0} ms;`, JSON.stringify(res.slice(0, 2)));
    for (const r of res.slice(0, 2)) {
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong, `rank ${r.rank}`).toEqual([]);
      expect(r.ok, `rank ${r.rank}: exact collectives before the kill`).toBe(10);
      expect(r.error.code).toBe('EABORTED');
      expect(r.error.ranks).toEqual([2]);
      expect(r.error.message).toMatch(/host 2 \(127\.[\d.]+:\d+\)/);
      expect(r.after, `rank ${r.rank}: exact collectives after shrink`).toBe(29);
    }
    expect(runs[2].code).not.toBe(0); // it killed itself
    // onet status on host 0: both links direct (loopback), with a round trip.
    const wan = res[0].wan;
    expect(wan, 'onet status --json has a wan part').toBeDefined();
    expect(wan.links.map((l: any) => [l.host, l.kind])).toEqual([
      [1, 'direct'],
      [2, 'direct'],
    ]);
    for (const l of wan.links) expect(l.rttMs).toBeGreaterThanOrEqual(0);
    console.log(`onet status wan part: ${JSON.stringify(wan)}`);
    console.log(`time to agreement: ${logs.map((l) => /met over libp2p in (\d+) ms/.exec(l)?.[1]).join(', ')} ms`);
    for (const h of [0, 1]) {
      expect(logs[h]).toMatch(/WAN rendezvous: 3 hosts agree/);
      expect(logs[h]).toMatch(/met over libp2p in \d+ ms/);
      expect(logs[h]).not.toMatch(/192\.0\.2\.1/);
    }
  }, 120_000);

  it('ONET_WAN without ONET_JOB_TOKEN is a clear error', async () => {
    const { runs } = await runWanJob(
      lo,
      [1, 1],
      (h) => ({ ...NOWHERE, ONET_WAN: '1', ONET_STATE_DIR: join(state, `notoken${h}`), ONET_CONNECT_TIMEOUT: '5' }),
      40_000,
      join(ROOT, 'examples/node/allreduce.mjs'),
    );
    for (const r of runs) expect(r.out).toMatch(/ONET_WAN=1 needs ONET_JOB_TOKEN/);
  }, 60_000);
});
