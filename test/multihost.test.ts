// Multi-host jobs on real network namespaces (test/netns/harness.ts): one coordinator per
// "host", ranks talking shared memory inside a host and TCP between hosts over veth links
// shaped with tc netem. Skipped, saying why, where namespaces cannot be created (not root).

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ucxAvailable } from './helpers.js';
import { createNet, type Net, netnsUnavailable } from './netns/harness.js';
import { resultsOf, runJob } from './netns/job.js';

const why = netnsUnavailable();
if (why) console.warn(`multi-host tests skipped: ${why}`);
const WORKER = join(ROOT, 'test/fixtures/collectives_worker.mjs');
const UCX = ucxAvailable();
if (!why && !UCX)
  console.warn('multi-host UCX test skipped: this build has no UCX backend (install libucx-dev and rebuild)');
const PY = join(ROOT, '.venv/bin/python');

/** Every `ONET_RESULT {json}` in output where stderr may interleave with stdout mid-line. */
function resultObjects(text: string): any[] {
  const found: any[] = [];
  for (let i = text.indexOf('ONET_RESULT {'); i >= 0; i = text.indexOf('ONET_RESULT {', i + 1)) {
    const start = i + 12;
    for (let j = text.indexOf('}', start); j >= 0; j = text.indexOf('}', j + 1)) {
      try {
        found.push(JSON.parse(text.slice(start, j + 1)));
        break;
      } catch {
        /* not the end yet */
      }
    }
  }
  return found;
}

/** torchrun on the first `hosts` namespaces, `nproc` ranks each; all output concatenated. */
async function torchrunAll(
  net: Net,
  hosts: number,
  nproc: number,
  script: string,
  args: string[],
  port: number,
  env: NodeJS.ProcessEnv = {},
): Promise<string> {
  const outs = await Promise.all(
    [...Array(hosts).keys()].map(
      (h) =>
        new Promise<string>((resolve) => {
          const p = net.spawn(
            h,
            join(ROOT, '.venv/bin/torchrun'),
            [
              '--nnodes',
              String(hosts),
              '--node-rank',
              String(h),
              '--nproc-per-node',
              String(nproc),
              '--master-addr',
              net.hosts[0].ip,
              '--master-port',
              String(port),
              script,
              ...args,
            ],
            {
              ONET_RUN_DIR: `/tmp/onet-torchmh-${process.pid}-${port}-${h}`,
              GLOO_SOCKET_IFNAME: 'eth0',
              OMP_NUM_THREADS: '1',
              ...env,
            },
          );
          let out = '';
          p.stdout!.on('data', (d) => (out += d));
          p.stderr!.on('data', (d) => (out += d));
          const t = setTimeout(() => p.kill('SIGKILL'), 240_000);
          p.on('close', () => {
            clearTimeout(t);
            resolve(out);
          });
        }),
    ),
  );
  return outs.join('\n');
}

describe.skipIf(!!why)('multi-host over network namespaces', () => {
  let net: Net;
  beforeAll(() => {
    net = createNet(3, { rate: '10gbit' });
  });
  afterAll(() => net?.destroy());

  // Every collective × dtype × op against the reference, across 3 hosts with uneven ranks
  // per host (world 5 = 2+2+1) and across 2 hosts (world 3 = 1+2).
  for (const perHost of [
    [2, 2, 1],
    [1, 2],
  ]) {
    it(`every collective, hosts ${perHost.join('+')}`, async () => {
      const runs = await runJob(
        net,
        perHost,
        process.execPath,
        [WORKER],
        { ONET_TEST_CROSS: '1', ONET_TEST_COUNTS: '0,1,4097', ONET_TIMEOUT: '60' },
        150_000,
      );
      const res = resultsOf(runs);
      for (const r of res) {
        expect(r.missing, JSON.stringify(r)).toBeUndefined();
        expect(r.failures, `rank ${r.rank}`).toEqual([]);
        expect(r.cases).toBeGreaterThan(400);
      }
    }, 200_000);
  }

  it.skipIf(!UCX)(
    'every collective over UCX (UCX_TLS=tcp), hosts 2+1',
    async () => {
      const runs = await runJob(
        net,
        [2, 1],
        process.execPath,
        [WORKER],
        {
          ONET_TEST_CROSS: '1',
          ONET_TEST_COUNTS: '0,1,4097',
          ONET_TIMEOUT: '60',
          ONET_TRANSPORT: 'ucx',
          UCX_TLS: 'tcp',
        },
        150_000,
      );
      for (const r of resultsOf(runs)) {
        expect(r.missing, JSON.stringify(r).slice(0, 2000)).toBeUndefined();
        expect(r.failures, `rank ${r.rank}`).toEqual([]);
      }
    },
    200_000,
  );

  it('a large allreduce is exact across hosts (1<<20 f32 and i64)', async () => {
    const runs = await runJob(
      net,
      [2, 1, 1],
      process.execPath,
      [WORKER],
      { ONET_TEST_CROSS: '1', ONET_TEST_COUNTS: '1048576', ONET_TIMEOUT: '60' },
      150_000,
    );
    for (const r of resultsOf(runs)) expect(r.failures, JSON.stringify(r).slice(0, 2000)).toEqual([]);
  }, 200_000);

  it('every torch collective under torchrun, 3 hosts x 2 ranks, against the reference', async () => {
    if (!existsSync(PY)) return;
    const out = await torchrunAll(
      net,
      3,
      2,
      join(ROOT, 'test/fixtures/torch_collectives_mh.py'),
      ['opennetworks'],
      29300 + (process.pid % 100),
    );
    const res = resultObjects(out);
    expect(res.length, out.slice(-3000)).toBe(6);
    for (const r of res) {
      expect(r.failures, `rank ${r.rank}`).toEqual([]);
      expect(r.cases).toBeGreaterThan(100);
    }
  }, 300_000);

  it('torch DDP under torchrun on 2 hosts matches gloo on the same hosts', async () => {
    if (!existsSync(PY)) return;
    const script = join(ROOT, 'test/fixtures/torch_multihost.py');
    const params: Record<string, number[]> = {};
    for (const backend of ['opennetworks', 'gloo']) {
      const t0 = Date.now();
      const port = 29400 + (process.pid % 200) + (backend === 'gloo' ? 1 : 0) * 7;
      const outs = await Promise.all(
        [0, 1].map(
          (h) =>
            new Promise<string>((resolve) => {
              const p = net.spawn(
                h,
                join(ROOT, '.venv/bin/torchrun'),
                [
                  '--nnodes',
                  '2',
                  '--node-rank',
                  String(h),
                  '--nproc-per-node',
                  '2',
                  '--master-addr',
                  net.hosts[0].ip,
                  '--master-port',
                  String(port),
                  script,
                  backend,
                ],
                {
                  ONET_RUN_DIR: `/tmp/onet-torchmh-${process.pid}-${backend}-${h}`,
                  GLOO_SOCKET_IFNAME: 'eth0',
                  OMP_NUM_THREADS: '1',
                },
              );
              let out = '';
              p.stdout!.on('data', (d) => (out += d));
              p.stderr!.on('data', (d) => (out += d));
              const t = setTimeout(() => p.kill('SIGKILL'), 150_000);
              p.on('close', () => {
                clearTimeout(t);
                resolve(out);
              });
            }),
        ),
      );
      console.log(`${backend}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const [res] = resultObjects(outs.join('\n'));
      expect(res, outs.join('\n').slice(-3000)).toBeDefined();
      params[backend] = res.params;
    }
    expect(params.opennetworks.length).toBe(params.gloo.length);
    params.gloo.forEach((v, i) =>
      expect(Math.abs(params.opennetworks[i] - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))),
    );
  }, 360_000);

  it('an invalid call on one host fails the collective on every host at once, not at the deadline', async () => {
    const runs = await runJob(
      net,
      [1, 1],
      process.execPath,
      [join(ROOT, 'test/fixtures/crosshost_bad_worker.mjs')],
      { ONET_TIMEOUT: '60' },
      90_000,
    );
    const res = resultsOf(runs);
    const [r0, r1] = [res.find((r) => r.rank === 0), res.find((r) => r.rank === 1)];
    expect(r1?.code, JSON.stringify(res).slice(0, 2000)).toBe('ERROR');
    expect(r1.message).toMatch(/runs past its arena/);
    expect(r0.code).toBe('EINVAL');
    expect(r0.message).toMatch(/ranks 1 \(host 1\) made an invalid call/);
    for (const r of res) expect(r.after).toBe(3); // the next collective works on both hosts
  }, 120_000);

  it('an unreachable bootstrap is a clear error naming host and port', async () => {
    // Only host 1's rank starts; the bootstrap address (host 0) never answers.
    const runs = await runJob(
      net,
      [0, 1],
      process.execPath,
      [join(ROOT, 'examples/node/allreduce.mjs')],
      { WORLD_SIZE: '2', RANK: '1', ONET_CONNECT_TIMEOUT: '3', ONET_BOOTSTRAP: `${net.hosts[0].ip}:29999` },
      60_000,
    );
    expect(runs[0].code).not.toBe(0);
    expect(runs[0].out).toMatch(new RegExp(`${net.hosts[0].ip.replace(/\./g, '\\.')}:29999`));
  }, 90_000);

  it('leaves no shared-memory segments behind', async () => {
    // Coordinators exit on their own once their ranks are gone (a failed start-up at once).
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = readdirSync('/dev/shm').filter((f) => f.startsWith(`onet-mh${process.pid}`));
      if (!left.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(left).toEqual([]);
  }, 20_000);
});
