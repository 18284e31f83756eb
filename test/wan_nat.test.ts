// Two hosts, each on its own private LAN behind its own NAT router (network namespaces, iptables
// MASQUERADE, no unsolicited inbound), and a public host running `onet relay` (src/testing/netns.ts
// createNatNet; root and iptables, skipped with the reason otherwise). The hosts cannot reach each
// other's data address, so they meet through the relay and carry the native transport over libp2p
// (src/p2p/tunnel.ts): every allreduce exact. Whether hole punching (src/p2p/holepunch.ts) upgraded the relayed
// connection is reported (console), not asserted: it depends on the NAT's port mapping.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultsOf } from '../src/testing/job.js';
import { createNatNet, natUnavailable } from '../src/testing/netns.js';
import { ONET } from './helpers.js';
import { relayLine } from './relay_line.js';
import { runNatPair } from './wan_nat_job.js';

const why = natUnavailable();

/** A TCP connect from inside namespace `ns`: 'connect', the error code, or 'timeout' (1 s). */
function tcpFrom(ns: string, ip: string, port: number): string {
  const js =
    `const s=require('net').connect(${port},'${ip}');s.on('connect',()=>{console.log('connect');process.exit()});` +
    "s.on('error',e=>{console.log(e.code);process.exit()});" +
    "setTimeout(()=>{console.log('timeout');process.exit()},1000)";
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8' }).trim();
}

describe.skipIf(why)(`ONET_WAN across two NATs${why ? ` (skipped: ${why})` : ''}`, () => {
  it('hosts behind different NATs meet via the relay and run exact allreduces over the tunnel', async () => {
    const net = createNatNet(2);
    const state = mkdtempSync(join(tmpdir(), 'onet-nat-'));
    let relayProc: ChildProcess | undefined;
    try {
      relayProc = net.spawnPub(process.execPath, [ONET, 'relay', '--json', '--listen', `/ip4/${net.pub.ip}/tcp/4001`], {
        ONET_STATE_DIR: join(state, 'relay'),
      });
      const relay = await relayLine(relayProc);
      // Sanity of the harness: a LAN host reaches the public host, never the other LAN.
      expect(tcpFrom(net.hosts[0].ns, net.pub.ip, 4001)).toBe('connect');
      expect(tcpFrom(net.hosts[0].ns, net.hosts[1].ip, 9)).not.toMatch(/connect|ECONNREFUSED/);
      const { runs, logs } = await runNatPair(net, {
        bootstrap: relay.addrs[0],
        state,
        token: 'nat-token',
        connectTimeoutS: 30,
        timeoutMs: 60_000,
      });
      const res = resultsOf(runs);
      for (const r of res) {
        expect(r.missing, JSON.stringify(r).slice(0, 3000)).toBeUndefined();
        expect(r.wrong, `rank ${r.rank}`).toEqual([]);
        expect(r.ok, `rank ${r.rank}`).toBe(40);
      }
      for (const l of logs) expect(l).toMatch(/does not answer; the native transport reaches it through 127\.0\.0\.1/);
      const link = res[0].wan?.links?.[0];
      expect(link?.path).toBe('tunnel');
      expect(['relayed', 'hole-punched']).toContain(link?.kind);
      const punched = link.kind === 'hole-punched';
      console.log(
        `NAT to NAT: libp2p link ${link.kind} (${link.remote}), rtt ${link.rttMs} ms; hole punching ` +
          `${punched ? 'hole-punched a direct connection (src/p2p/holepunch.ts)' : 'did not upgrade it: relayed'}; ` +
          `met in ${res[0].wan.meetMs} ms`,
      );
    } finally {
      relayProc?.kill('SIGKILL');
      net.destroy();
      rmSync(state, { recursive: true, force: true });
    }
  }, 90_000);
});
