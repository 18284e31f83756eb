// Hole punching across two NATs (src/p2p/holepunch.ts, docs/wan.md "Hole punching"): two private
// LANs, each one host behind its own NAT router namespace, and a public host running `onet relay`
// (src/testing/netns.ts createNatNet; root and iptables, skipped with the reason otherwise). The
// hosts cannot reach each other's data address, so the native transport runs through the tunnel
// over libp2p (src/p2p/tunnel.ts), every allreduce checked exactly:
//  - port-preserving NAT (MASQUERADE): the coordinators punch a direct TCP connection through both
//    NATs and the link is `hole-punched`, the tunnel's bytes no longer crossing the relay;
//  - symmetric NAT (MASQUERADE --random-fully): punching is impossible, detected, and the link stays
//    `relayed`.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultsOf } from '../src/testing/job.js';
import { createNatNet, natUnavailable } from '../src/testing/netns.js';
import { ONET } from './helpers.js';
import { relayLine } from './relay_line.js';
import { runNatPair } from './wan_nat_job.js';

const why = natUnavailable();

async function natJob(symmetric: boolean) {
  const net = createNatNet(2, { symmetric });
  const state = mkdtempSync(join(tmpdir(), 'onet-punch-'));
  let relayProc: ChildProcess | undefined;
  try {
    relayProc = net.spawnPub(process.execPath, [ONET, 'relay', '--json', '--listen', `/ip4/${net.pub.ip}/tcp/4001`], {
      ONET_STATE_DIR: join(state, 'relay'),
    });
    const relay = await relayLine(relayProc);
    // Harness sanity: a LAN host reaches nothing on the other LAN (no answer, not even a refusal).
    const js =
      `const s=require('net').connect(9,'${net.hosts[1].ip}');s.on('connect',()=>{console.log('connect');` +
      "process.exit()});s.on('error',e=>{console.log(e.code);process.exit()});" +
      "setTimeout(()=>{console.log('timeout');process.exit()},1000)";
    const probe = execFileSync('ip', ['netns', 'exec', net.hosts[0].ns, process.execPath, '-e', js], {
      encoding: 'utf8',
    });
    expect(probe.trim()).not.toMatch(/connect|ECONNREFUSED/);
    const { runs, logs } = await runNatPair(
      net,
      { bootstrap: relay.addrs[0], state, token: 'punch-token', connectTimeoutS: 40, timeoutMs: 70_000 },
      // Debugging: e.g. ONET_TEST_P2P_DEBUG='libp2p:dcutr*,libp2p:tcp*' (into coord.log), ONET_TEST_DUMP=/tmp/x
      { DEBUG: process.env.ONET_TEST_P2P_DEBUG ?? '' },
    );
    const res = resultsOf(runs);
    for (const r of res) {
      expect(r.missing, JSON.stringify(r).slice(0, 3000)).toBeUndefined();
      expect(r.wrong, `rank ${r.rank}`).toEqual([]);
      expect(r.ok, `rank ${r.rank}`).toBe(40);
    }
    if (process.env.ONET_TEST_DUMP)
      for (const [i, l] of logs.entries()) writeFileSync(`${process.env.ONET_TEST_DUMP}.${i}`, l);
    // Bytes the public host received: the relay carries the tunnel's bytes only while relayed.
    const relayRx = Number(
      execFileSync('ip', ['netns', 'exec', net.pub.ns, 'cat', '/sys/class/net/eth0/statistics/rx_bytes'], {
        encoding: 'utf8',
      }),
    );
    const punchLog = logs.map((l) => /hole punching: .*/.exec(l)?.[0] ?? '(no hole punching line)');
    return { link: res[0].wan?.links?.[0], punchLog, relayRx };
  } finally {
    relayProc?.kill('SIGKILL');
    net.destroy();
    rmSync(state, { recursive: true, force: true });
  }
}

describe.skipIf(why)(`ONET_WAN hole punching across two NATs${why ? ` (skipped: ${why})` : ''}`, () => {
  it('port-preserving NATs: the hosts punch a direct connection (hole-punched) and allreduce exactly', async () => {
    const { link, punchLog, relayRx } = await natJob(false);
    console.log(
      `port-preserving NAT: ${link?.kind} ${link?.remote}, rtt ${link?.rttMs} ms, relay received ${relayRx} B; ` +
        punchLog.join(' | '),
    );
    expect(link?.path, punchLog.join('\n')).toBe('tunnel');
    expect(link?.kind, punchLog.join('\n')).toBe('hole-punched');
    expect(link?.remote).not.toContain('/p2p-circuit');
    // The tunnel's ~11 MB (40 allreduces, both ways) took the direct connection, not the relay.
    expect(relayRx).toBeLessThan(2_000_000);
    for (const l of punchLog) expect(l).toMatch(/hole-punched/);
  }, 90_000);

  it('symmetric NATs: punching is impossible, the link stays relayed and allreduces are exact', async () => {
    const { link, punchLog, relayRx } = await natJob(true);
    console.log(
      `symmetric NAT: ${link?.kind} ${link?.remote}, rtt ${link?.rttMs} ms, relay received ${relayRx} B; ` +
        punchLog.join(' | '),
    );
    expect(link?.path).toBe('tunnel');
    expect(link?.kind, punchLog.join('\n')).toBe('relayed');
    expect(punchLog.join('\n')).toMatch(/does not keep source ports|no direct connection/);
    expect(relayRx).toBeGreaterThan(5_000_000); // every tunnelled byte crossed the relay
  }, 90_000);
});
