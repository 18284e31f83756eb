// The `onet` command line.
import { Command } from 'commander';
import { OnetError } from '../errors.js';
import { native } from '../native/addon.js';
import { config } from './config.js';
import { run } from './run.js';
import { serve } from './serve.js';
import { status } from './status.js';

const program = new Command('onet')
  .description('OpenNetworks: collectives for PyTorch, JAX, HuggingFace and Node')
  .version('0.1.0');

program
  .command('serve')
  .description('run a coordinator for a job on this host')
  .option('--job <id>', 'job id (default from ONET_JOB_ID / launcher env)')
  .option('--world <n>', 'world size (default: from the first rank)')
  .option('--exit-when-idle', 'exit once every rank has left (used when a rank starts the coordinator)')
  .option('--web [m]', 'reserve the last m ranks (default 1) for browser/Pyodide tabs and print their join URLs')
  .action((o) => serve(o));

program
  .command('run')
  .description('start a coordinator and N ranks: onet run -n 4 -- node examples/node/allreduce.mjs')
  .requiredOption('-n, --nprocs <n>', 'number of ranks')
  .option('--job <id>', 'job id (default: a fresh one)')
  .option('--web <m>', 'also reserve m browser/Pyodide ranks (N..N+m-1) and print one join URL per rank')
  .argument('<cmd...>', 'command to run for each rank')
  .action(async (cmd: string[], o) =>
    process.exit(await run(Number(o.nprocs), cmd, { job: o.job, web: o.web === undefined ? 0 : Number(o.web) })),
  );

program
  .command('clean')
  .description('remove shared-memory segments and sockets left by dead coordinators')
  .action(() => console.log(`onet clean: removed ${native.cleanStale('')} stale segment(s)`));

program
  .command('config')
  .description('print every setting any part reads, its value, who reads it and its meaning')
  .option('--json', 'machine-readable output')
  .action((o) => config(o));

program
  .command('status')
  .description("show a running job's ranks and who the pending collectives wait for")
  .option('--job <id>', 'job id (default from ONET_JOB_ID / launcher env)')
  .option('--json', 'machine-readable output')
  .action((o) => status(o));

program
  .command('dashboard')
  .description("print (--open: open) a running job's dashboard URL (needs ONET_METRICS_PORT or ONET_DASHBOARD_PORT)")
  .option('--job <id>', 'job id (default from ONET_JOB_ID / launcher env)')
  .option('--open', 'open it in the default browser')
  .action(async (o) => {
    const { dashboard } = await import('./dashboard.js');
    await dashboard(o);
  });

program
  .command('bench')
  .description('benchmark every collective over a size sweep (nccl-tests style)')
  .option('-n, --nprocs <n>', 'ranks', '2')
  .option('--min <bytes>', 'smallest message', '8')
  .option('--max <bytes>', 'largest message', '64MiB')
  .option('--ops <list>', 'collectives', 'allreduce,allgather,broadcast,reduce_scatter,alltoall')
  .option('--iters <n>', 'timed iterations per size (default: by size)')
  .option('--json', 'print JSON instead of tables')
  .option(
    '--framework <name>',
    'node (Node ranks, data in the arena) or torch (torch.distributed vs --compare)',
    'node',
  )
  .option('--compare <list>', 'torch: reference backends (gloo; MPI joins when mpi4py is installed)', 'gloo')
  .option('--sizes <list>', 'torch: message sizes (default 8,64KiB,1MiB,16MiB,64MiB)')
  .option('--reps <n>', 'torch: timed repetitions per size')
  .option('--rounds <n>', 'torch: run every backend this many times, interleaved')
  .option('--scale <x>', 'torch: multiply the iteration counts (e.g. 0.1 for a quick look)')
  .option('--no-mpi', 'torch: leave out the MPI column')
  .option('--no-arena', 'torch: leave out the opennetworks.torch.empty (zero-copy) column')
  .option('--web', "a browser rank's collectives next to raw WebSocket loopback throughput (src/web/bench.ts)")
  .action(async (o, cmd) => {
    if (o.web) {
      const { benchWeb } = await import('../web/bench.js');
      process.exit(await benchWeb(o));
    }
    if (o.framework === 'torch') {
      const { benchTorch } = await import('./bench_torch.js');
      const dflt = (k: string) => cmd.getOptionValueSource(k) === 'default';
      process.exit(
        await benchTorch({ ...o, nprocs: dflt('nprocs') ? '2,4' : o.nprocs, ops: dflt('ops') ? 'all' : o.ops }),
      );
    }
    if (o.framework !== 'node') throw new OnetError('EINVAL', `--framework ${o.framework}: use node or torch`);
    const { bench } = await import('./bench.js');
    process.exit(await bench(o));
  });

program
  .command('topo')
  .description('show this host (cores, NUMA, NICs, GPUs), the interface it binds and the topology')
  .option('--json', 'print the topology as JSON (loadable with ONET_TOPO_FILE)')
  .option('--svg <file>', 'write an SVG picture with links labelled by bandwidth')
  .option('--probe', 'measure links over TCP (loopback and --peers) and local copy bandwidth')
  .option('--peers <list>', 'host:port of `onet topo --probe-server` peers to probe, comma-separated')
  .option('--budget-ms <ms>', 'time bound for probing one peer', '3000')
  .option('--ranks <n>', 'local ranks to record per discovered host', '1')
  .option('--topo <file>', 'show this topology file instead of discovering (default ONET_TOPO_FILE)')
  .option('--probe-server <port>', 'answer probes on this TCP port (0 = any) until killed')
  .action(async (o) => {
    const { topo } = await import('./topo.js');
    process.exitCode = await topo(o);
  });

program
  .command('relay')
  .description('run a public bootstrap/relay node for ONET_WAN jobs; prints the ONET_P2P_BOOTSTRAP addresses')
  .option('--listen <multiaddr...>', 'where to listen, e.g. /ip4/0.0.0.0/tcp/4001 /ip4/0.0.0.0/tcp/4002/ws')
  .option('--announce <multiaddr...>', 'public addresses to announce (behind a 1:1 NAT or a load balancer)')
  .option('--key <file>', 'identity key file (default <ONET_STATE_DIR>/relay.key, created when absent)')
  .option('--json', 'print one JSON line {peerId, addrs} instead')
  .action(async (o) => {
    const { relay } = await import('./relay.js');
    await relay({ listen: o.listen ?? [], announce: o.announce, key: o.key, json: o.json });
  });

program
  .command('explain')
  .description('show the algorithm the scheduler picks and the predicted time of every alternative')
  .option('--size <bytes>', 'message size (64MiB, 8, 1GiB)', '64MiB')
  .option(
    '--op <collective>',
    'allreduce, allgather, broadcast, reduce_scatter, reduce, alltoall, barrier',
    'allreduce',
  )
  .option('--hosts <n>', 'hosts (uses link figures from --topo / ONET_TOPO_FILE, else 10 GbE)')
  .option('--ppn <n>', 'ranks per host')
  .option('--simulate <HxM>', 'predict a sweep of sizes for H hosts × M ranks per host, e.g. 1024x8')
  .option('--topo <file>', 'topology file (default ONET_TOPO_FILE)')
  .option('--table', 'print the selection table (every collective, by size range) as JSON')
  .option('--json', 'machine-readable output')
  .action(async (o) => {
    const { explainCmd } = await import('./explain.js');
    process.exitCode = await explainCmd(o);
  });

program.parseAsync(process.argv).catch((e) => {
  const err = OnetError.fromNative(e);
  console.error(`onet: ${err.code}: ${err.message}`);
  process.exit(2);
});
