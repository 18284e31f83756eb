// Two hosts on one private LAN find each other by mDNS alone (ONET_WAN=1, no ONET_P2P_BOOTSTRAP,
// ONET_BOOTSTRAP and MASTER_ADDR pointing nowhere): network namespaces on a bridge (root; skipped
// with the reason otherwise). The namespaces get the multicast route a LAN's default route gives
// (224.0.0.0/4 via eth0): the harness's hosts have no default route of their own.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { createNet, netnsUnavailable } from '../src/testing/netns.js';
import { exactResults, NOWHERE, runWanJob } from './wan_job.js';

const why = netnsUnavailable();

describe.skipIf(why)(`ONET_WAN on one LAN, mDNS only${why ? ` (skipped: ${why})` : ''}`, () => {
  it('2 hosts meet by mDNS and run exact collectives', async () => {
    const net = createNet(2);
    const state = mkdtempSync(join(tmpdir(), 'onet-mdns-'));
    try {
      for (const h of net.hosts) execFileSync('ip', ['-n', h.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
      const { runs } = await runWanJob(
        net,
        [2, 1],
        (h) => ({
          ...NOWHERE,
          ONET_WAN: '1',
          ONET_JOB_TOKEN: 'mdns-token',
          ONET_STATE_DIR: join(state, `h${h}`),
          ONET_CONNECT_TIMEOUT: '30',
        }),
        60_000,
      );
      exactResults(runs, 40);
    } finally {
      net.destroy();
      rmSync(state, { recursive: true, force: true });
    }
  }, 90_000);
});
