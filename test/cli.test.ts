// The onet command line, run as a user would.
import { describe, expect, it } from 'vitest';
import { init } from '../src/api/comm';
import { Coordinator } from '../src/coordinator/server';
import { ONET, onetRun, runProc } from './helpers';

describe('onet CLI', () => {
  it('run streams rank-prefixed output of the README example and exits 0', async () => {
    const r = await onetRun(3, 'examples/node/allreduce.mjs');
    expect(r.code).toBe(0);
    for (const k of [0, 1, 2]) expect(r.stdout).toContain(`[rank ${k}] rank ${k}/3: sum = 300 303 306`);
  });

  it('run exits non-zero when a rank fails', async () => {
    const r = await runProc(process.execPath, [
      ONET,
      'run',
      '-n',
      '2',
      '--',
      process.execPath,
      '-e',
      'process.exit(Number(process.env.RANK) ? 3 : 0)',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rank 1 \(exit 3\)/);
  });

  it('config prints every setting with its meaning', async () => {
    const r = await runProc(process.execPath, [ONET, 'config'], { ONET_SPIN_US: '9' });
    expect(r.stdout).toMatch(/ONET_SPIN_US +9 +env/);
    expect(r.stdout).toMatch(/ONET_ARENA_BYTES +256MiB +default/);
  });

  it('bench prints a table with the memcpy limit line and no wrong results', async () => {
    const r = await runProc(process.execPath, [
      ONET,
      'bench',
      '-n',
      '2',
      '--min',
      '8',
      '--max',
      '64KiB',
      '--iters',
      '20',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.memcpy2GBs).toBeGreaterThan(0);
    expect(j.rows.length).toBe(5 * 8); // 8 B … 64 KiB by 4×, then 64 KiB
    for (const row of j.rows) expect(row.wrong).toBe(0);
  });

  it('status names the rank a stalled collective waits for', async () => {
    const job = `status-${process.pid}`;
    // The coordinator's view of a stalled collective: the engine's (fast-lane calls never reach it).
    const env = { ...process.env, ONET_JOB_ID: job, ONET_FASTLANE_MAX_BYTES: '0' };
    const coord = await Coordinator.start({ job, world: 2, env, log: () => {} });
    const c0 = await init({ rank: 0, world: 2, localRank: 0, localWorld: 2, job, env });
    const c1 = await init({ rank: 1, world: 2, localRank: 1, localWorld: 2, job, env });
    const stuck = c0.allreduce(Float32Array.of(1));
    await new Promise((r) => setTimeout(r, 300)); // the snapshot refreshes every 50 ms
    const s = await runProc(process.execPath, [ONET, 'status', '--job', job], env);
    expect(s.stdout).toMatch(/rank 1: live/);
    expect(s.stdout).toMatch(/rank 0 waits in allreduce #1 for rank 1, which has not completed a collective yet/);
    await c1.allreduce(Float32Array.of(2));
    expect((await stuck)[0]).toBe(3);
    await Promise.all([c0.close(), c1.close()]);
    await coord.close();
  });
});
