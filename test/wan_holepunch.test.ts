// Hole punching across two NATs (src/p2p/holepunch.ts, docs/wan.md "Hole punching"): two private
// LANs, each one host behind its own NAT router namespace, and a public host running `onet relay`
// (src/testing/netns.ts createNatNet; root and iptables, skipped with the reason otherwise). The
// hosts cannot reach each other's data address, so the native transport runs through the tunnel
// over libp2p (src/p2p/tunnel.ts), every allreduce checked exactly:
//  - port-preserving NAT (MASQUERADE): the coordinators punch a direct TCP connection through both
//    NATs and the link is `hole-punched`, the tunnel's bytes no longer crossing the relay;
//  - symmetric NAT (MASQUERADE --random-fully): punching is impossible, detected, and the link stays
//    `relayed`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { natUnavailable } from '../src/testing/netns.js';
import { exactResults } from './wan_job.js';
import { runNatPair, tcpFrom, withNatRelay } from './wan_nat_job.js';

const why = natUnavailable();

function natJob(symmetric: boolean) {
  return withNatRelay({ symmetric }, async (net, relay, state) => {
    // Harness sanity: a LAN host reaches nothing on the other LAN (no answer, not even a refusal).
    expect(tcpFrom(net.hosts[0].ns, net.hosts[1].ip, 9)).not.toMatch(/connect|ECONNREFUSED/);
    const { runs, logs } = await runNatPair(
      net,
      { bootstrap: relay.addrs[0], state, token: 'punch-token', connectTimeoutS: 40, timeoutMs: 70_000 },
      // Debugging: e.g. ONET_TEST_P2P_DEBUG='libp2p:dcutr*,libp2p:tcp*' (into coord.log), ONET_TEST_DUMP=/tmp/x
      { DEBUG: process.env.ONET_TEST_P2P_DEBUG ?? '' },
    );
    // Dumped before any check, so that a failed run keeps its evidence.
    const dump = process.env.ONET_TEST_DUMP;
    if (dump)
      for (const [i, l] of logs.entries())
        writeFileSync(`${dump}.${symmetric ? 'sym' : 'pp'}.${i}`, `${l}\n--- rank output\n${runs[i]?.out}`);
    const res = exactResults(runs, 40);
    // Bytes the public host received: the relay carries the tunnel's bytes only while relayed.
    const relayRx = Number(
      execFileSync('ip', ['netns', 'exec', net.pub.ns, 'cat', '/sys/class/net/eth0/statistics/rx_bytes'], {
        encoding: 'utf8',
      }),
    );
    const punchLog = logs.map((l) => /hole punching: .*/.exec(l)?.[0] ?? '(no hole punching line)');
    return { link: res[0].wan?.links?.[0], punchLog, relayRx };
  });
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
