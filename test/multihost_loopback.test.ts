// Multi-host jobs without root, in the default suite on any Linux machine: each "host" is a
// loopback address 127.A.B.(i+1) with its own coordinator, run directory and bound address
// (src/testing/loopback.ts), so the cross-host paths run for real: bootstrap, mesh handshake,
// header exchange, inter-host algorithms, host-major gathers, point-to-point across hosts.
// test/multihost.test.ts runs the same over network namespaces where root allows;
// test/faults_proxy.test.ts injects network faults between such hosts.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsOf, runJob } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { ROOT } from './helpers.js';

const WORKER = join(ROOT, 'test/fixtures/collectives_worker.mjs');

/** Every coordinator log under a host's run directory (read before runJob removes it). */
function logsOf(dir: string): string {
  return readdirSync(dir)
    .map((job) => join(dir, job, 'coord.log'))
    .filter(existsSync)
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

describe('multi-host on loopback addresses (no root, no namespaces)', () => {
  let lo: Loopback;
  beforeAll(async () => {
    lo = await createLoopback(3);
  });
  afterAll(() => lo?.destroy());

  // Every collective × dtype × op against the reference (collectives_worker.mjs), world 3 split
  // unevenly over 2 hosts and evenly over 3.
  for (const perHost of [
    [2, 1],
    [1, 1, 1],
  ]) {
    it(`every collective, hosts ${perHost.join('+')}, counts 0, 1, 4097`, async () => {
      const logs: string[] = [];
      const t0 = Date.now();
      const runs = await runJob(
        lo,
        perHost,
        process.execPath,
        [WORKER],
        { ONET_TEST_CROSS: '1', ONET_TEST_COUNTS: '0,1,4097', ONET_TIMEOUT: '60' },
        150_000,
        (dirs) => {
          for (const d of dirs) logs.push(logsOf(d));
        },
      );
      const res = resultsOf(runs);
      const cases = res.map((r) => r.cases).join(', ');
      console.log(`hosts ${perHost.join('+')}: ${cases} cases per rank in ${Date.now() - t0} ms`);
      expect(res.length).toBe(3);
      for (const r of res) {
        expect(r.missing, JSON.stringify(r)).toBeUndefined();
        expect(r.failures, `rank ${r.rank}`).toEqual([]);
        expect(r.cases).toBeGreaterThan(400);
      }
      // Each coordinator bound its own address only and met the others as separate hosts.
      perHost.forEach((_, h) => {
        expect(logs[h], `host ${h}'s coordinator log`).toContain(`tcp transport listening on ${lo.hosts[h].ip}:`);
        expect(logs[h]).toMatch(new RegExp(`host ${h} of ${perHost.length}: connected to`));
      });
    }, 200_000);
  }

  it('an unreachable bootstrap is a clear error naming host and port', async () => {
    // Only host 1's rank starts; nothing listens at the bootstrap address.
    const where = `${lo.hosts[0].ip}:29999`;
    const runs = await runJob(
      lo,
      [0, 1],
      process.execPath,
      [join(ROOT, 'examples/node/allreduce.mjs')],
      { WORLD_SIZE: '2', RANK: '1', ONET_CONNECT_TIMEOUT: '3', ONET_BOOTSTRAP: where },
      60_000,
    );
    expect(runs[0].code).not.toBe(0);
    expect(runs[0].out).toContain(where);
  }, 90_000);

  it('ONET_IFNAME naming an address this machine does not have: a clear error naming it', async () => {
    const runs = await runJob(
      lo,
      [1, 1],
      process.execPath,
      [join(ROOT, 'examples/node/allreduce.mjs')],
      (h) => ({ ONET_CONNECT_TIMEOUT: '5', ...(h === 1 ? { ONET_IFNAME: '192.0.2.77' } : {}) }),
      60_000,
    );
    console.log(`host 1 with ONET_IFNAME=192.0.2.77: ${runs[1].out.split('\n').find((l) => l.includes('192.0.2.77'))}`);
    expect(runs[1].code).not.toBe(0);
    expect(runs[1].out).toContain('192.0.2.77');
  }, 90_000);

  it('leaves no shared-memory segments behind', async () => {
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = readdirSync('/dev/shm').filter((f) => f.startsWith(`onet-mh${process.pid}`));
      if (!left.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(left).toEqual([]);
  }, 20_000);
});
