// launch(): real rank processes under an in-process coordinator — log streaming, exit codes,
// fail-fast, stop() cleaning up processes and segments, metrics, and a PyTorch rank.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Job, type JobMetrics, type LogEvent, launch } from '../src/api/launch';
import { jobPaths } from '../src/coordinator/paths';
import { ROOT, results, runProc } from './helpers';

const WORKER = join(ROOT, 'test/fixtures/launch_worker.mjs');
const PY = join(ROOT, '.venv/bin/python');
const quiet = { coordinatorLog: () => {} };

const segments = (job: string) => readdirSync('/dev/shm').filter((n) => n.startsWith(`onet-${job}-`));
/** Is pid a running process (not gone, not a zombie awaiting its reaper)? */
const alive = (pid: number | undefined) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
/** Wait up to 2 s for SIGKILLed processes to go (the kernel tears them down asynchronously). */
async function gone(pids: Array<number | undefined>): Promise<number[]> {
  for (let i = 0; i < 40 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(alive) as number[];
}
function collect(job: Job): LogEvent[] {
  const logs: LogEvent[] = [];
  job.on('log', (e) => logs.push(e));
  return logs;
}
const stdoutOf = (logs: LogEvent[]) =>
  logs
    .filter((l) => l.stream === 'stdout')
    .map((l) => l.line)
    .join('\n');
/** Resolves once `n` ONET_RESULT lines matching `pred` have been logged. */
function waitResults(job: Job, n: number, pred: (r: any) => boolean = () => true): Promise<any[]> {
  const got: any[] = [];
  return new Promise((resolve) =>
    job.on('log', (e) => {
      for (const r of results(e.line)) if (pred(r)) got.push(r);
      if (got.length === n) resolve(got);
    }),
  );
}

describe('launch()', () => {
  it("streams every rank's lines attributed to it, with the launcher environment set", async () => {
    const job = await launch({
      nprocs: 3,
      cmd: [process.execPath, WORKER, 'env'],
      env: { EXTRA: 'yes' },
      cwd: join(ROOT, 'test'),
      ...quiet,
    });
    const logs = collect(job);
    const exits: number[] = [];
    job.on('rankExit', (r) => exits.push(r.rank));
    const exit = await job.wait();
    expect(exit).toMatchObject({ code: 0, reason: 'ok', job: job.id });
    expect(exit.failed).toBeUndefined();
    expect(exit.ranks.map((r) => [r.rank, r.code, r.signal])).toEqual([
      [0, 0, null],
      [1, 0, null],
      [2, 0, null],
    ]);
    expect(exits.sort()).toEqual([0, 1, 2]);
    for (const r of [0, 1, 2]) {
      const mine = logs.filter((l) => l.rank === r);
      expect(mine).toContainEqual({ rank: r, stream: 'stderr', line: `to stderr from ${r}` });
      expect(mine).toContainEqual({ rank: r, stream: 'stdout', line: `no newline from ${r}` });
      const [res] = results(mine.map((l) => l.line).join('\n'));
      expect(res.rank).toBe(r);
      expect(res.cwd).toBe(join(ROOT, 'test'));
      expect(res.env).toEqual({
        RANK: String(r),
        WORLD_SIZE: '3',
        LOCAL_RANK: String(r),
        LOCAL_WORLD_SIZE: '3',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(job.masterPort),
        ONET_JOB_ID: job.id,
        EXTRA: 'yes',
      });
    }
  });

  it('runs the README example: real allreduce output, attributed per rank', async () => {
    const job = await launch({
      nprocs: 3,
      cmd: [process.execPath, join(ROOT, 'examples/node/allreduce.mjs')],
      ...quiet,
    });
    const logs = collect(job);
    expect((await job.wait()).code).toBe(0);
    for (const r of [0, 1, 2]) {
      expect(logs).toContainEqual({
        rank: r,
        stream: 'stdout',
        line: `rank ${r}/3: sum = 300 303 306 309 312 315 318 321`,
      });
      expect(logs).toContainEqual({ rank: r, stream: 'stdout', line: `rank ${r}: allgather = 0 1 2` });
    }
  });

  it('a rank exiting 3 fails the job: the exit event names it, the others are stopped', async () => {
    const job = await launch({
      nprocs: 3,
      cmd: [process.execPath, WORKER, 'fail'],
      failFastDelayMs: 200,
      graceMs: 3000,
      ...quiet,
    });
    const failed: number[] = [];
    job.on('failed', (r) => failed.push(r.rank));
    const onExit = new Promise((r) => job.on('exit', r));
    const exit = await job.wait();
    expect(await onExit).toBe(exit);
    expect(failed).toEqual([1]);
    expect(exit.reason).toBe('failed');
    expect(exit.code).toBe(3);
    expect(exit.failed).toMatchObject({ rank: 1, code: 3, signal: null });
    for (const r of [0, 2]) expect(exit.ranks[r]).toMatchObject({ rank: r, code: null, signal: 'SIGTERM' });
    expect(job.pids.filter(alive)).toEqual([]);
    expect(segments(job.id)).toEqual([]);
  });

  it('failFast: false lets the others run to the end', async () => {
    const job = await launch({
      nprocs: 2,
      cmd: [
        process.execPath,
        '-e',
        'setTimeout(() => process.exit(Number(process.env.RANK) ? 5 : 0), 300 * (1 - Number(process.env.RANK)))',
      ],
      failFast: false,
      ...quiet,
    });
    const exit = await job.wait();
    expect(exit).toMatchObject({ code: 5, reason: 'failed', failed: { rank: 1, code: 5 } });
    expect(exit.ranks[0]).toMatchObject({ code: 0, signal: null });
  });

  it(
    'stop() ends every rank and what it started (SIGKILL ' + 'after the grace), the coordinator and its segments',
    async () => {
      const job = await launch({ nprocs: 3, cmd: [process.execPath, WORKER, 'hang'], ...quiet });
      const ready = await waitResults(job, 3, (r) => r.ready);
      const paths = jobPaths(job.id);
      expect(existsSync(paths.socket)).toBe(true);
      const grandchildren = ready.map((r) => r.grandchild as number);
      expect(grandchildren.every(alive)).toBe(true);
      expect(job.running).toBe(true);
      const exit = await job.stop({ graceMs: 1500 });
      expect(exit.reason).toBe('stopped');
      expect(exit.failed).toBeUndefined();
      expect(exit.ranks[0]).toMatchObject({ signal: 'SIGTERM' });
      expect(exit.ranks[1]).toMatchObject({ signal: 'SIGTERM' });
      expect(exit.ranks[2]).toMatchObject({ signal: 'SIGKILL' }); // it ignored SIGTERM
      expect(exit.code).toBe(128 + 15);
      expect(job.running).toBe(false);
      expect(await job.stop()).toBe(exit); // idempotent
      expect(job.pids.filter(alive)).toEqual([]); // the ranks were waited for
      expect(await gone(grandchildren)).toEqual([]);
      expect(segments(job.id)).toEqual([]);
      expect(existsSync(paths.socket)).toBe(false);
      expect(existsSync(paths.dir)).toBe(false);
    },
  );

  it('timeoutMs stops a job that runs too long', async () => {
    const job = await launch({
      nprocs: 2,
      cmd: [process.execPath, WORKER, 'sleep'],
      timeoutMs: 500,
      graceMs: 1000,
      ...quiet,
    });
    const exit = await job.wait();
    expect(exit.reason).toBe('timeout');
    expect(exit.ranks.map((r) => r.signal)).toEqual(['SIGTERM', 'SIGTERM']);
  });

  it('metrics events arrive while the ranks run and show who a collective waits for', async () => {
    const job = await launch({
      nprocs: 3,
      cmd: [process.execPath, WORKER, 'stall'],
      // The coordinator's view of a pending collective: the engine's (fast-lane calls never reach it).
      env: { STALL_MS: '2500', LINGER_MS: '1000', ONET_FASTLANE_MAX_BYTES: '0' },
      metricsIntervalMs: 150,
      ...quiet,
    });
    const samples: JobMetrics[] = [];
    job.on('metrics', (m) => samples.push(m));
    const exit = await job.wait();
    expect(exit.code).toBe(0);
    expect(samples.length).toBeGreaterThan(2);
    const s = samples.find((m) => m.pending.some((p) => p.missing.join() === '1' && p.arrived.join() === '0,2'));
    expect(s, JSON.stringify(samples.at(-1))).toBeDefined();
    expect(s!.job).toBe(job.id);
    expect(s!.world).toBe(3);
    expect(s!.ranks.map((r) => r.state)).toEqual(['live', 'live', 'live']);
    expect(s!.ranks.map((r) => r.framework)).toEqual(['node', 'node', 'node']);
    expect(s!.ranks.map((r) => [r.pendingOps, r.blockingOps])).toEqual([
      [1, 0],
      [0, 1],
      [1, 0],
    ]);
    expect(s!.oldestPendingMs).toBeGreaterThan(0);
    expect(s!.ranks[0].pid).toBe(job.pids[0]);
    if (process.platform === 'linux') expect(s!.ranks[1].rssBytes).toBeGreaterThan(0);
    // The coordinator's status carries each rank's last completed collective: one allreduce.
    expect(
      samples.some((m) => m.ranks.every((r) => r.completed === 1)),
      JSON.stringify(samples.at(-1)),
    ).toBe(true);
    expect(s!.ranks.map((r) => r.completed ?? 0)).toEqual([0, 0, 0]);
    const on = await job.metrics(); // after the end: the launcher's view still answers
    expect(on.ranks.map((r) => r.state)).toEqual(['exited', 'exited', 'exited']);
    expect(on.error).toMatch(/did not answer status|closed/);
  });

  it('a command that cannot be started fails with code 127 and says why', async () => {
    const job = await launch({ nprocs: 2, cmd: ['/nonexistent/onet-test-binary'], failFastDelayMs: 0, ...quiet });
    const logs = collect(job);
    const exit = await job.wait();
    expect(exit.reason).toBe('failed');
    expect(exit.code).toBe(127);
    expect(exit.ranks[0].error).toMatch(/ENOENT/);
    expect(logs.some((l) => l.stream === 'stderr' && /cannot start \/nonexistent\/onet-test-binary/.test(l.line))).toBe(
      true,
    );
  });

  it('bad options are an EINVAL naming the option', async () => {
    await expect(launch({ nprocs: 0, cmd: ['node'] })).rejects.toMatchObject({ code: 'EINVAL', message: /nprocs/ });
    await expect(launch({ nprocs: 2, cmd: [] })).rejects.toMatchObject({ code: 'EINVAL', message: /cmd/ });
    await expect(launch({ nprocs: 2, cmd: ['node'], jobId: 'a/b' })).rejects.toMatchObject({
      code: 'EINVAL',
      message: /jobId/,
    });
  });

  it.skipIf(!existsSync(PY))(
    'a PyTorch rank (.venv/bin/python) does dist.all_reduce under launch',
    async () => {
      const job = await launch({
        nprocs: 2,
        cmd: [PY, join(ROOT, 'test/fixtures/launch_torch_rank.py')],
        timeoutMs: 100_000,
        ...quiet,
      });
      const logs = collect(job);
      const exit = await job.wait();
      expect(exit.code, logs.map((l) => `[${l.rank} ${l.stream}] ${l.line}`).join('\n')).toBe(0);
      const res = results(stdoutOf(logs)).sort((a, b) => a.rank - b.rank);
      expect(res).toEqual([0, 1].map((rank) => ({ rank, world: 2, sum: [10, 12, 14, 16] })));
      expect(segments(job.id)).toEqual([]);
    },
    120_000,
  );

  it('examples/node/launch.mjs prints rank-attributed logs and the exit summary', async () => {
    const r = await runProc(process.execPath, [join(ROOT, 'examples/node/launch.mjs')], { ONET_LOG: 'warn' });
    expect(r.code, r.stderr).toBe(0);
    for (const k of [0, 1, 2])
      expect(r.stdout).toContain(`[rank ${k}] rank ${k}/3: sum = 300 303 306 309 312 315 318 321`);
    expect(r.stdout).toMatch(/job run-\d+-\w+: ok, exit code 0/);
  });
});
