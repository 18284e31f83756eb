// Launch 3 ranks from Node and watch them: their output, the job's metrics, the exit summary.
//
//   node examples/node/launch.mjs                       # 3 Node ranks running allreduce.mjs
//   node examples/node/launch.mjs python train.py ...   # any command, e.g. a PyTorch script
import { launch } from 'opennetworks';

const here = new URL('.', import.meta.url).pathname;
const cmd = process.argv.length > 2 ? process.argv.slice(2) : [process.execPath, `${here}allreduce.mjs`];

const job = await launch({ nprocs: 3, cmd, metricsIntervalMs: 500, timeoutMs: 10 * 60_000 });
job.on('log', ({ rank, stream, line }) => console.log(`[rank ${rank}${stream === 'stderr' ? ' err' : ''}] ${line}`));
job.on('metrics', (m) => {
  const ranks = m.ranks
    .map((r) => `${r.rank}:${r.state}${r.blockingOps ? ` (${r.blockingOps} waiting on it)` : ''}`)
    .join(' ');
  console.log(
    `[metrics ${(m.elapsedMs / 1000).toFixed(1)} s] ${ranks}; pending ${m.pending.length}, oldest ` +
      `${m.oldestPendingMs} ms`,
  );
});
job.on('failed', (r) => console.log(`rank ${r.rank} failed (exit ${r.code ?? r.signal}); stopping the others`));
process.on('SIGINT', () => void job.stop({ graceMs: 3000 }));

const exit = await job.wait();
console.log(`job ${exit.job}: ${exit.reason}, exit code ${exit.code}, ${exit.durationMs} ms`);
for (const r of exit.ranks) console.log(`  rank ${r.rank}: ${r.signal ? `signal ${r.signal}` : `exit ${r.code}`}`);
process.exitCode = exit.code;
