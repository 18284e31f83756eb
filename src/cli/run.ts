// `onet run -n N -- cmd ...`: launch() with the ranks' output streamed rank-prefixed to this
// terminal; Ctrl-C stops the job gracefully; exit status non-zero if any rank fails.
import { exitNumber, launch, type RankExit } from '../api/launch.js';
import { OnetError } from '../errors.js';
import { Progress } from '../telemetry/progress.js';

const describe = (r: RankExit) => `rank ${r.rank} (${r.error ?? (r.signal ? `signal ${r.signal}` : `exit ${r.code}`)})`;

const list = (rs: number[]) => `${rs.length > 1 ? 'ranks' : 'rank'} ${rs.join(', ')}`;

export async function run(
  n: number,
  cmd: string[],
  opts: { job?: string; quiet?: boolean; web?: number } = {},
): Promise<number> {
  if (!Number.isInteger(n) || n < 1) throw new OnetError('EINVAL', `-n ${n}: give the number of ranks, at least 1`);
  if (!cmd.length) throw new OnetError('EINVAL', 'nothing to run: onet run -n 4 -- node script.mjs');
  const web = opts.web ?? 0;
  if (!Number.isInteger(web) || web < 0)
    throw new OnetError('EINVAL', `--web ${opts.web}: give the number of browser ranks to reserve (0 or more)`);
  const job = await launch({ nprocs: n, web, cmd, jobId: opts.job, metricsIntervalMs: 1000 });
  // One join URL per browser rank, each usable once: open it in a tab (or join(url) from Pyodide).
  job.webUrls.forEach((u, i) => process.stdout.write(`onet run: rank ${n + i} (browser) joins at ${u}\n`));
  if (web)
    process.stdout.write('onet run: for a Python (Pyodide) rank in a tab, open /pyodide.html in place of /join\n');
  // Progress: a bar on a terminal (rank output scrolls above it); elsewhere a plain line every
  // 30 s once the job has run that long, on stderr.
  const progress = new Progress({ label: 'onet run', total: n, plainEveryMs: 30_000 });
  job.on('log', ({ rank, stream, line }) => {
    const text = `${n > 1 ? `[rank ${rank}] ` : ''}${line}\n`,
      out = stream === 'stdout' ? process.stdout : process.stderr;
    if (progress.tty) progress.log(text, out);
    else out.write(text);
  });
  job.on('metrics', (m) => {
    if (!progress.tty && m.elapsedMs < 30_000) return;
    const done = Math.max(0, ...m.ranks.map((r) => r.completed ?? 0));
    const wait = m.oldestPendingMs > 1000 ? ` · oldest wait ${(m.oldestPendingMs / 1000).toFixed(1)} s` : '';
    progress.update(m.ranks.filter((r) => r.state === 'exited').length, `ranks finished · ${done} collectives${wait}`);
  });
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stoppedBy ??= sig;
    process.stderr.write(`onet run: ${sig}: stopping the ranks\n`);
    void job.stop({ signal: sig });
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  job.on('failed', (r) => {
    const live = job.liveRanks;
    process.stderr.write(`onet run: ${describe(r)} failed${live.length ? `; stopping ${list(live)} in 5 s` : ''}\n`);
  });
  const res = await job.wait();
  if (progress.tty) {
    progress.update(res.ranks.length, 'ranks finished', true);
    progress.finish();
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
  // Stopped by Ctrl-C / kill: exit as the shell expects of a command killed by that signal.
  if (res.reason === 'stopped' && stoppedBy) return exitNumber(null, stoppedBy);
  const bad = res.ranks.filter((r) => r.code !== 0 || r.signal);
  if (bad.length)
    process.stderr.write(`onet run: ${bad.length} of ${n} rank(s) failed: ${bad.map(describe).join(', ')}\n`);
  return bad.length ? 1 : 0;
}
