// Fusion of small cross-host allreduces in the engine (engine/fusion.cc, crosshost_fuse.cc) on
// real network namespaces: every rank posts 45 small allreduces at a time without awaiting them,
// over dtypes × ops, and checks each result bit for bit against the hierarchical reference. The
// same job runs with fusion on (default ONET_FUSION_BYTES) and off (0): fusion must have
// happened in the first run (the engine's `fused` counter, read through `status`) and not in the
// second, and every rank's digest of all its results must be identical in both. Skipped, saying
// why, where namespaces cannot be created (not root).

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';
import { createNet, type Net, netemUnavailable, netnsUnavailable } from './netns/harness.js';
import { resultsOf, runJob } from './netns/job.js';

const why = netnsUnavailable();
if (why) console.warn(`fusion tests skipped: ${why}`);
const WORKER = join(ROOT, 'test/fixtures/fusion_worker.mjs');

describe.skipIf(!!why)('fusion of small cross-host allreduces', () => {
  let net: Net;
  // A little latency (when netem exists) so that posts queue up behind a round trip, as on a
  // real network; fusion happens without it too, just less.
  beforeAll(() => {
    net = createNet(3, netemUnavailable() ? { rate: '10gbit' } : { rate: '10gbit', delay: '300us' });
  });
  afterAll(() => net?.destroy());

  for (const perHost of [
    [2, 2],
    [1, 1, 1],
  ]) {
    it(`results are bit-identical fused and unfused, hosts ${perHost.join('+')}`, async () => {
      const env = { ONET_TEST_PERHOST: perHost.join(','), ONET_TIMEOUT: '60', ONET_SPIN_US: '0' };
      const on = resultsOf(await runJob(net, perHost, process.execPath, [WORKER], env, 120_000));
      const off = resultsOf(
        await runJob(net, perHost, process.execPath, [WORKER], { ...env, ONET_FUSION_BYTES: '0' }, 120_000),
      );
      for (const [label, res] of [
        ['fusion on', on],
        ['fusion off', off],
      ] as const)
        for (const r of res) {
          expect(r.missing, `${label}: ${JSON.stringify(r).slice(0, 2000)}`).toBeUndefined();
          expect(r.failures, `${label}, rank ${r.rank}`).toEqual([]);
          expect(r.cases).toBe(18 * 45);
        }
      const byRank = (res: any[]) => new Map(res.map((r) => [r.rank, r]));
      const [a, b] = [byRank(on), byRank(off)];
      for (const [rk, r] of a) expect(r.digest, `rank ${rk}`).toBe(b.get(rk).digest);
      console.log(
        `hosts ${perHost.join('+')}: fused collectives per rank's host, on: ${on.map((r) => r.fused).join(', ')}; ` +
          `off: ${off.map((r) => r.fused).join(', ')}`,
      );
      for (const r of on) expect(r.fused, `rank ${r.rank}: no allreduce was fused`).toBeGreaterThan(0);
      for (const r of off) expect(r.fused, `rank ${r.rank}: fused with ONET_FUSION_BYTES=0`).toBe(0);
    }, 260_000);
  }

  // A member whose ranks disagree is never fused: it fails alone, with the unfused error.
  it('a mismatched allreduce among fusable ones fails exactly as unfused; the others are exact', async () => {
    const env = { ONET_TEST_PERHOST: '1,1', ONET_TIMEOUT: '20', ONET_SPIN_US: '0', ONET_TEST_MISMATCH: '1' };
    const on = resultsOf(await runJob(net, [1, 1], process.execPath, [WORKER], env, 60_000));
    const off = resultsOf(
      await runJob(net, [1, 1], process.execPath, [WORKER], { ...env, ONET_FUSION_BYTES: '0' }, 60_000),
    );
    for (const res of [on, off])
      for (const r of res) {
        expect(r.missing, JSON.stringify(r).slice(0, 2000)).toBeUndefined();
        r.out.forEach((o: any, i: number) => {
          if (i === 2) {
            expect(o.code, JSON.stringify(o)).toBe('EMISMATCH');
            expect(o.message).toMatch(
              /^allreduce #3: count differs: ranks \d \(host \d\) have (8|9), ranks \d \(host \d\) have (8|9) — /,
            );
          } else expect(o.sum, `rank ${r.rank} #${i + 1}: ${JSON.stringify(o)}`).toBe(Array(8).fill(3).join(','));
        });
      }
    const byRank = (res: any[]) =>
      res
        .slice()
        .sort((a, b) => a.rank - b.rank)
        .map((r) => r.out);
    expect(byRank(on)).toEqual(byRank(off));
    console.log(
      `mismatch among fusable allreduces: fused ${on.map((r) => r.fused).join(', ')} (on), ` +
        `${off.map((r) => r.fused).join(', ')} (off)`,
    );
  }, 150_000);

  // Every 7th frame corrupted after its checksum (TCP test hook): fused exchanges fail too. Every
  // call must still end — exact, or failed by the checksum error or its abort notice, its own or
  // its fused lead's, on every host at once (ONET_TIMEOUT is short: a hang would be ETIMEDOUT).
  for (const perHost of [
    [1, 1],
    [1, 1, 1],
  ])
    it(`a fused exchange that fails fails all its members, on every host, with the checksum error, hosts ` +
      `${perHost.join('+')}`, async () => {
      const env = {
        ONET_TEST_PERHOST: perHost.join(','),
        ONET_TIMEOUT: '10',
        ONET_SPIN_US: '0',
        ONET_TEST_CORRUPT: '7',
        ONET_TEST_TOLERATE: '1',
      };
      const res = resultsOf(await runJob(net, perHost, process.execPath, [WORKER], env, 120_000));
      let fusedErrors = 0;
      const timedOut = res.flatMap((r) =>
        (r.errors ?? []).filter((e: any) => e.code !== 'EINTERNAL').map((e: any) => ({ rank: r.rank, ...e })),
      );
      // A hang shows as ETIMEDOUT after ONET_TIMEOUT: print the calls around the first one.
      if (timedOut.length) {
        const seqOf = (e: any) => Number(/#(\d+)/.exec(e.message)?.[1]);
        const first = Math.min(...timedOut.map(seqOf));
        for (const r of res)
          for (const e of r.errors)
            if (seqOf(e) >= first - 12 && seqOf(e) <= first + 2)
              console.log(`rank ${r.rank}: ${e.message.slice(0, 200)}`);
      }
      for (const r of res) {
        expect(r.missing, JSON.stringify(r).slice(0, 2000)).toBeUndefined();
        expect(r.failures, `rank ${r.rank}: wrong results`).toEqual([]);
        for (const e of r.errors) {
          expect(e.code, e.message).toBe('EINTERNAL');
          expect(e.message).toMatch(
            new RegExp(
              /^allreduce #\d+( \(fused with allreduce #\d+\))?: /.source +
                /(.*aborted it: )?(fused with allreduce #\d+: )?.*checksum mismatch/.source,
            ),
          );
          if (/fused with/.test(e.message)) fusedErrors++;
        }
        console.log(
          `corrupting every 7th frame, rank ${r.rank}: ${r.cases - r.errors.length} exact, ${r.errors.length} ` +
            `failed, fused ${r.fused}; ` +
            r.errors
              .filter((e: any) => /fused/.test(e.message))
              .slice(0, 2)
              .map((e: any) => `[${e.message.slice(0, 160)}]`)
              .join(' '),
        );
      }
      // A member failed with its lead: the lead failed too. (Hosts may differ: one that got every
      // frame of an exchange completes it, and a later notice for it changes nothing.)
      for (const r of res) {
        const failed = new Set(r.errors.map((e: any) => Number(/^allreduce #(\d+)/.exec(e.message)?.[1])));
        for (const e of r.errors) {
          const lead = /\(fused with allreduce #(\d+)\)/.exec(e.message);
          if (lead) expect(failed.has(Number(lead[1])), `rank ${r.rank}: ${e.message.slice(0, 200)}`).toBe(true);
        }
      }
      expect(fusedErrors).toBeGreaterThan(0);
    }, 150_000);
});
