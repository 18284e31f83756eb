// `onet bench --framework torch`: a tiny sweep through torch.distributed (opennetworks, the
// zero-copy arena column and gloo, MPI when installed), checked for structure and sanity only:
// numbers are positive and results correct. Timing goes in benchmarks, never in assertions.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pythonExe, torchBenchArgs, torchOps } from '../src/cli/bench_torch';
import { ONET, runProc } from './helpers';

const py = pythonExe();
const haveTorch = py === 'python3' || existsSync(py);

describe('onet bench --framework torch', () => {
  it('maps options to python -m opennetworks.bench arguments', () => {
    expect(torchOps('allreduce,all_gather,reduce_scatter')).toBe('all_reduce,all_gather,reduce_scatter');
    const a = torchBenchArgs({ nprocs: '2,4', ops: 'all', sizes: '8,64KiB', compare: 'gloo', json: true, mpi: false });
    expect(a.slice(0, 2)).toEqual(['-m', 'opennetworks.bench']);
    expect(a).toEqual(expect.arrayContaining(['-n', '2,4', '--sizes', '8,64KiB', '--no-mpi', '--json']));
  });

  it.skipIf(!haveTorch)('runs a tiny sweep and prints JSON with both backends and their ratios', async () => {
    const r = await runProc(
      process.execPath,
      [
        ONET,
        'bench',
        '--framework',
        'torch',
        '-n',
        '2',
        '--sizes',
        '8,64KiB',
        '--ops',
        'allreduce,broadcast',
        '--reps',
        '1',
        '--scale',
        '0.01',
        '--json',
      ],
      {},
      180_000,
    );
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.framework).toBe('torch');
    expect(j.nprocs).toEqual([2]);
    expect(j.ops).toEqual(['all_reduce', 'broadcast']);
    expect(j.sizes).toEqual([8, 65536]);
    expect(j.backends).toEqual(expect.arrayContaining(['opennetworks', 'opennetworks+arena', 'gloo']));
    expect(j.errors).toEqual([]);
    const backends = j.backends.length;
    expect(j.results.length).toBe(backends * 2 * 2);
    for (const row of j.results) {
      expect(row.wrong, `${row.backend} ${row.op} ${row.size}`).toBe(0);
      for (const k of ['time_us', 'time_us_min', 'time_us_max', 'algbw_GBps', 'busbw_GBps'])
        expect(row[k]).toBeGreaterThan(0);
      expect(row.time_us_min).toBeLessThanOrEqual(row.time_us_max);
      expect(row.samples_us.length).toBe(1);
    }
    const ar = j.results.find((x: any) => x.backend === 'gloo' && x.op === 'all_reduce' && x.size === 65536);
    expect(ar.busbw_GBps).toBeCloseTo((ar.algbw_GBps * 2 * (2 - 1)) / 2, 6);
    const vsGloo = j.ratios.filter((x: any) => x.vs === 'gloo');
    expect(vsGloo.length).toBe(2 * 2 * 2); // (onet, onet+arena) × ops × sizes
    for (const x of j.ratios) expect(x.busbw_ratio).toBeGreaterThan(0);
    if (j.skipped.mpi === undefined) expect(j.backends).toContain('mpi');
    // The load the runs shared the cores with: sampled during every run, never asserted on as a timing.
    expect(j.machine.load_during.samples).toBeGreaterThan(0);
    expect(j.load_per_run.map((x: any) => x.backend)).toEqual(expect.arrayContaining(['opennetworks', 'gloo']));
  });

  it('rejects an unknown collective with a message naming the choices', async () => {
    const r = await runProc(process.execPath, [ONET, 'bench', '--framework', 'torch', '-n', '2', '--ops', 'allfoo']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown allfoo; choose from all_reduce, all_gather, broadcast, reduce_scatter/);
  });
});
