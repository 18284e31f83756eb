// One ONET_WAN job of two 1-rank hosts behind NAT routers (createNatNet), meeting through `onet relay`,
// with an unreachable torch store (TEST-NET) so they can only meet over libp2p; returns the runs and each
// host's coordinator logs. Shared by test/wan_nat.test.ts and test/wan_holepunch.test.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runJob } from '../src/testing/job.js';
import { ROOT } from './helpers.js';

const readIf = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

export async function runNatPair(
  net: Parameters<typeof runJob>[0],
  o: { bootstrap: string; state: string; token: string; connectTimeoutS: number; timeoutMs: number },
  extraEnv: Record<string, string> = {},
) {
  const logs: string[] = [];
  const runs = await runJob(
    net,
    [1, 1],
    process.execPath,
    [join(ROOT, 'test/fixtures/p2p_worker.mjs')],
    (h) => ({
      ONET_WAN: '1',
      ONET_JOB_TOKEN: o.token,
      ONET_P2P_BOOTSTRAP: o.bootstrap,
      ONET_P2P_MDNS: '0',
      ONET_STATE_DIR: join(o.state, `h${h}`),
      ONET_BOOTSTRAP: '192.0.2.1:9',
      MASTER_ADDR: '192.0.2.1',
      MASTER_PORT: '8',
      ONET_P2P_STATUS: '1',
      ONET_CONNECT_TIMEOUT: String(o.connectTimeoutS),
      ...extraEnv,
    }),
    o.timeoutMs,
    (dirs) => {
      for (const d of dirs)
        logs.push(
          readdirSync(d)
            .map((j) => readIf(join(d, j, 'coord.log')))
            .join('\n'),
        );
    },
  );
  return { runs, logs };
}
