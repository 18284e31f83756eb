// Telemetry against a real job: an in-process coordinator with ONET_METRICS_PORT and real rank
// processes (test/fixtures/telemetry_worker.mjs) running a known list of collectives. /metrics
// must count exactly what they did; a deliberately slow rank is flagged as a straggler; a
// deliberately stalled rank is named by `onet status`.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describePending, rankRanges } from '../src/cli/status';
import { Coordinator } from '../src/coordinator/server';
import { Progress } from '../src/telemetry/progress';
import { StragglerDetector } from '../src/telemetry/straggler';
import { bucketLowerUs, quantileUs, sizeLabel } from '../src/telemetry/window';
import { ONET, results, runProc } from './helpers';
import { parseProm, pick, startRanks, until } from './telemetry_util';

const dir = mkdtempSync(join(tmpdir(), 'onet-telemetry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('telemetry: native counters through /metrics', () => {
  it.each([3])(
    'counts a scripted %i-rank job exactly, flags the straggler, and status names the stalled rank',
    async (W) => {
      const job = `tele-${process.pid}-${W}`;
      const release = join(dir, `release-${W}`);
      const env = {
        ...process.env,
        ONET_JOB_ID: job,
        ONET_METRICS_PORT: '0',
        ONET_FASTLANE_MAX_BYTES: '0', // the engine's counters: fast-lane calls never reach the coordinator
        ONET_STRAGGLER_WINDOW: '12',
        ONET_TW_MODE: 'script',
        ONET_TW_SLOW: String(W - 1),
        ONET_TW_SLOW_MS: '20',
        ONET_TW_RELEASE: release,
      };
      const logs: string[] = [];
      const coord = await Coordinator.start({ job, world: W, env, log: (level, msg) => logs.push(`${level}: ${msg}`) });
      const url = (coord.status() as any).telemetry.metrics as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const scrape = async () => parseProm(await (await fetch(url)).text());
      const slow = String(W - 1);
      try {
        const ranks = startRanks(W, env);
        // While the slow rank is stalled before its last allreduce: status names it, the
        // straggler is flagged in metrics and in the log.
        const st = await until(
          'the stalled allreduce',
          async () => {
            const s = await runProc(process.execPath, [ONET, 'status', '--job', job], env, 20_000);
            return /wait in allreduce #38 /.test(s.stdout) && s.stdout; // not a passing wait of the straggle phase
          },
          60_000,
        );
        const others = rankRanges(Array.from({ length: W - 1 }, (_, i) => i));
        expect(st).toMatch(
          new RegExp(
            `ranks ${others} wait in allreduce #38 for rank ${slow}, last seen in broadcast #37 \\(\\d+\\.\\d s ago\\)`,
          ),
        );
        await until(
          'the straggler flag',
          async () => pick(await scrape(), 'onet_rank_straggler', { rank: slow }) === 1,
          10_000,
        );
        expect(logs.join('\n')).toMatch(new RegExp(`straggler: rank ${slow} arrived last`));
        const late = await scrape();
        for (let r = 0; r < W - 1; r++) expect(pick(late, 'onet_rank_straggler', { rank: String(r) })).toBe(0);
        expect(pick(late, 'onet_queue_depth', { job })).toBe(W - 1); // the others' posted allreduce #38
        writeFileSync(release, '');
        const ran = await ranks;
        for (const r of ran) expect(r.code, r.stderr).toBe(0);
        for (const r of results(ran.map((x) => x.stdout).join('\n'))) expect(r.mismatch).toBe('EMISMATCH');

        const m = await scrape();
        const c = (op: string, dtype: string, size: string) =>
          pick(m, 'onet_collective_calls_total', { job, op, dtype, size, algo: 'local-shm' });
        const b = (op: string, dtype: string, size: string) =>
          pick(m, 'onet_collective_bytes_total', { job, op, dtype, size, algo: 'local-shm' });
        // 10 + 12 (straggle phase) + 1 (after the stall) allreduces of 2 f32; the mismatched one failed.
        expect(c('allreduce', 'f32', '8B')).toBe(23);
        expect(b('allreduce', 'f32', '8B')).toBe(23 * 8);
        expect(c('allreduce', 'f32', '32KiB')).toBe(5);
        expect(b('allreduce', 'f32', '32KiB')).toBe(5 * 4097 * 4);
        // allgather's size is the gathered output (nccl-tests convention): W × 4 bytes.
        expect(c('allgather', 'i32', sizeLabel(Math.ceil(Math.log2(W * 4)) + 1))).toBe(4);
        expect(b('allgather', 'i32', sizeLabel(Math.ceil(Math.log2(W * 4)) + 1))).toBe(4 * W * 4);
        expect(c('broadcast', 'f64', '8B')).toBe(4);
        expect(c('barrier', 'none', '0B')).toBe(1);
        const total = m.filter((s) => s.name === 'onet_collective_calls_total').reduce((a, s) => a + s.value, 0);
        expect(total).toBe(23 + 5 + 4 + 4 + 1);
        // Histogram: +Inf bucket and _count equal the calls; buckets never decrease.
        const l = { job, op: 'allreduce', dtype: 'f32', size: '8B', algo: 'local-shm' };
        expect(pick(m, 'onet_collective_duration_seconds_count', l)).toBe(23);
        expect(pick(m, 'onet_collective_duration_seconds_bucket', { ...l, le: '+Inf' })).toBe(23);
        const buckets = m
          .filter(
            (s) =>
              s.name === 'onet_collective_duration_seconds_bucket' &&
              s.labels.size === '8B' &&
              s.labels.op === 'allreduce',
          )
          .map((s) => s.value);
        expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
        expect(pick(m, 'onet_collective_duration_seconds_sum', l)).toBeGreaterThan(0);
        expect(pick(m, 'onet_collective_duration_window_seconds', { ...l, quantile: '0.99' })).toBeGreaterThan(0);
        expect(pick(m, 'onet_collective_busbw_bytes_per_second', l)).toBeGreaterThan(0);
        // Every rank got EMISMATCH for the one mismatched allreduce.
        expect(pick(m, 'onet_errors_total', { job, code: 'EMISMATCH' })).toBe(W);
        expect(pick(m, 'onet_errors_total', { job, code: 'ETIMEDOUT' })).toBe(0);
        expect(pick(m, 'onet_queue_depth', { job })).toBe(0);
        // The slow rank kept the others waiting at least 12 × ~20 ms.
        expect(pick(m, 'onet_rank_waited_for_seconds_total', { job, rank: slow })).toBeGreaterThan(0.1);
        expect(pick(m, 'onet_shm_arena_high_water_bytes', { job, rank: '0' })).toBeGreaterThanOrEqual(4097 * 4);
        expect(pick(m, 'onet_host_memory_bytes', { job, kind: 'total' })).toBeGreaterThan(0);
        expect(pick(m, 'onet_host_cpu_utilisation_ratio', { job })).toBeGreaterThanOrEqual(0);
        // No multi-host transport yet: no link series; no NVIDIA driver here: no GPU series.
        expect(m.some((s) => s.name === 'onet_link_bytes_total')).toBe(false);
        if (!existsSync('/proc/driver/nvidia'))
          expect(m.some((s) => s.name === 'onet_gpu_utilisation_ratio')).toBe(false);
      } finally {
        await coord.close();
      }
    },
  );

  it('is off unless a port is set, and a bad port is a clear error', async () => {
    const job = `tele-off-${process.pid}`;
    const coord = await Coordinator.start({ job, world: 1, env: { ...process.env, ONET_JOB_ID: job }, log: () => {} });
    expect((coord.status() as any).telemetry).toEqual({});
    await coord.close();
    await expect(
      Coordinator.start({ job, world: 1, env: { ...process.env, ONET_METRICS_PORT: 'http' }, log: () => {} }),
    ).rejects.toThrow(/ONET_METRICS_PORT="http" is not a port/);
  });
});

describe('telemetry: pieces', () => {
  it('histogram buckets and quantiles', () => {
    expect(bucketLowerUs(36)).toBe(1); // 2^0 µs starts bucket 4·(9+0) (metrics.ts leIndex)
    expect(bucketLowerUs(40)).toBe(2);
    expect(bucketLowerUs(37)).toBe(1.25);
    const h = new Map([
      [36, 50],
      [40, 50],
    ]); // 50 in [1,1.25) µs, 50 in [2,2.5) µs
    expect(quantileUs(h, 0.5)).toBeCloseTo(1.25, 6);
    expect(quantileUs(h, 0.99)).toBeGreaterThan(2);
    expect(sizeLabel(0)).toBe('0B');
    expect(sizeLabel(4)).toBe('8B');
    expect(sizeLabel(21)).toBe('1MiB');
  });

  it('status sentence names the rank the others wait for', () => {
    expect(rankRanges([0, 1, 2, 3, 4, 5, 6, 9])).toBe('0–6, 9');
    const line = describePending(
      { group: 0, seq: 1234, ageMs: 3100, coll: 'allreduce', arrived: [0, 1, 2, 3, 4, 5, 6], missing: [7] },
      [{ rank: 7, coll: 'broadcast', group: 0, seq: 1233, agoMs: 12400 }],
    );
    expect(line).toBe(
      'ranks 0–6 wait in allreduce #1234 for rank 7, last seen in broadcast #1233 (12.4 s ago) — waiting 3.1 s',
    );
  });

  it('progress: a redrawn bar on a terminal, plain lines otherwise', () => {
    const sink = (tty: boolean) => {
      const out: string[] = [];
      return {
        out,
        stream: { isTTY: tty, columns: 120, write: (t: string) => out.push(t) } as unknown as NodeJS.WriteStream,
      };
    };
    const plain = sink(false);
    const p = new Progress({ label: 'onet bench', total: 4, stream: plain.stream });
    p.update(1, 'allreduce 8 B');
    p.update(2, 'allreduce 32 B');
    p.finish();
    expect(plain.out.join('')).toMatch(
      /^onet bench 1\/4 allreduce 8 B \(\d+ s\)\nonet bench 2\/4 allreduce 32 B \(\d+ s\)\n$/,
    );
    const tty = sink(true);
    const q = new Progress({ label: 'onet run', total: 4, stream: tty.stream, width: 8 });
    q.update(2, 'ranks finished', true);
    q.log('[rank 0] hello', tty.stream);
    q.finish();
    const text = tty.out.join('');
    expect(text).toContain('\r\x1b[2Konet run ████     2/4 ranks finished');
    expect(text).toContain('\r\x1b[2K[rank 0] hello\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('recordLink flags a link far below its probed bandwidth (hook for the multi-host transport)', () => {
    const said: string[] = [];
    const d = new StragglerDetector((_l, m) => said.push(m));
    d.recordLink('hostB', { bytes: 0, seconds: 0, probedBps: 10e9 });
    expect(d.recordLink('hostB', { bytes: 8e9, seconds: 1, probedBps: 10e9 }).slow).toBe(false);
    expect(d.recordLink('hostB', { bytes: 9e9, seconds: 2, retransmits: 3 }).slow).toBe(true); // 1 GB/s of 10 probed
    expect(said.join('\n')).toMatch(/slow link: to hostB measured 1\.00 GB\/s, probed 10\.00 GB\/s/);
    expect(d.linkStates()[0]).toMatchObject({ peer: 'hostB', retransmits: 3, slow: true });
  });
});
