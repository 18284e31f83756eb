// Two hosts, each on its own private LAN behind its own NAT router (network namespaces, iptables
// MASQUERADE, no unsolicited inbound), and a public host running `onet relay` (src/testing/netns.ts
// createNatNet; root and iptables, skipped with the reason otherwise). The hosts cannot reach each
// other's data address, so they meet through the relay and carry the native transport over libp2p
// (src/p2p/tunnel.ts): every allreduce exact. Whether hole punching (src/p2p/holepunch.ts) upgraded the relayed
// connection is reported (console), not asserted: it depends on the NAT's port mapping.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultsOf, runJob } from '../src/testing/job.js';
import { createNatNet, natUnavailable } from '../src/testing/netns.js';
import { ONET, ROOT } from './helpers.js';
import { relayLine } from './relay_line.js';

const why = natUnavailable();
const readIf = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

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
      const logs: string[] = [];
      const runs = await runJob(
        net,
        [1, 1],
        process.execPath,
        [join(ROOT, 'test/fixtures/p2p_worker.mjs')],
        (h) => ({
          ONET_WAN: '1',
          ONET_JOB_TOKEN: 'nat-token',
          ONET_P2P_BOOTSTRAP: relay.addrs[0],
          ONET_P2P_MDNS: '0',
          ONET_STATE_DIR: join(state, `h${h}`),
          ONET_BOOTSTRAP: '192.0.2.1:9',
          MASTER_ADDR: '192.0.2.1',
          MASTER_PORT: '8',
          ONET_P2P_STATUS: '1',
          ONET_CONNECT_TIMEOUT: '30',
        }),
        60_000,
        (dirs) => {
          for (const d of dirs)
            logs.push(
              readdirSync(d)
                .map((j) => readIf(join(d, j, 'coord.log')))
                .join('\n'),
            );
        },
      );
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
