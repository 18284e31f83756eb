// Two hosts, each on its own private LAN behind its own NAT router (network namespaces, iptables
// MASQUERADE, no unsolicited inbound), and a public host running `onet relay` (src/testing/netns.ts
// createNatNet; root and iptables, skipped with the reason otherwise). The hosts cannot reach each
// other's data address, so they meet through the relay and carry the native transport over libp2p
// (src/p2p/tunnel.ts): every allreduce exact. Whether hole punching (src/p2p/holepunch.ts) upgraded the relayed
// connection is reported (console), not asserted: it depends on the NAT's port mapping.
import { describe, expect, it } from 'vitest';
import { natUnavailable } from '../src/testing/netns.js';
import { exactResults } from './wan_job.js';
import { runNatPair, tcpFrom, withNatRelay } from './wan_nat_job.js';

const why = natUnavailable();

describe.skipIf(why)(`ONET_WAN across two NATs${why ? ` (skipped: ${why})` : ''}`, () => {
  it('hosts behind different NATs meet via the relay and run exact allreduces over the tunnel', async () => {
    await withNatRelay({}, async (net, relay, state) => {
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
      const res = exactResults(runs, 40);
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
    });
  }, 90_000);
});
