// The `onet` command line.
import { Command } from 'commander';
import { describeSettings } from '../config/settings.js';
import { native } from '../native/addon.js';
import { OnetError } from '../errors.js';
import { serve } from './serve.js';
import { run } from './run.js';
import { status } from './status.js';

const program = new Command('onet').description('OpenNetworks: collectives for PyTorch, JAX, HuggingFace and Node').version('0.1.0');

program.command('serve').description('run a coordinator for a job on this host')
  .option('--job <id>', 'job id (default from ONET_JOB_ID / launcher env)')
  .option('--world <n>', 'world size (default: from the first rank)')
  .option('--exit-when-idle', 'exit once every rank has left (used when a rank starts the coordinator)')
  .action((o) => serve(o));

program.command('run').description('start a coordinator and N ranks: onet run -n 4 -- node examples/node/allreduce.mjs')
  .requiredOption('-n, --nprocs <n>', 'number of ranks')
  .option('--job <id>', 'job id (default: a fresh one)')
  .argument('<cmd...>', 'command to run for each rank')
  .action(async (cmd: string[], o) => process.exit(await run(Number(o.nprocs), cmd, { job: o.job })));

program.command('clean').description('remove shared-memory segments and sockets left by dead coordinators')
  .action(() => console.log(`onet clean: removed ${native.cleanStale('')} stale segment(s)`));

program.command('config').description('print every setting, its value and meaning')
  .option('--json', 'machine-readable output')
  .action((o) => {
    const rows = describeSettings();
    if (o.json) return console.log(JSON.stringify(rows, null, 2));
    const w = Math.max(...rows.map((r) => r.env.length));
    for (const r of rows) console.log(`${r.env.padEnd(w)}  ${String(r.value).padEnd(10)} ${r.source.padEnd(7)}  ${r.meaning}`);
  });

program.command('status').description("show a running job's ranks and who the pending collectives wait for")
  .option('--job <id>', 'job id (default from ONET_JOB_ID / launcher env)')
  .option('--json', 'machine-readable output')
  .action((o) => status(o));

program.command('bench').description('benchmark every collective over a size sweep (nccl-tests style)')
  .option('-n, --nprocs <n>', 'ranks', '2')
  .option('--min <bytes>', 'smallest message', '8')
  .option('--max <bytes>', 'largest message', '64MiB')
  .option('--ops <list>', 'collectives', 'allreduce,allgather,broadcast,reduce_scatter,alltoall')
  .option('--iters <n>', 'timed iterations per size (default: by size)')
  .option('--json', 'print JSON instead of tables')
  .action(async (o) => {
    const { bench } = await import('./bench.js');
    process.exit(await bench(o));
  });

program.parseAsync(process.argv).catch((e) => {
  const err = OnetError.fromNative(e);
  console.error(`onet: ${err.code}: ${err.message}`);
  process.exit(2);
});
