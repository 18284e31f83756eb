// 8-byte allreduce latency of Node ranks (issue 17: "≤ 5 µs"), with and without the rank-side fast lane.
//
//   npm run build && nice node bench/lane_node.mjs [nprocs=2] [iters=20000]
//
// Launches nprocs Node ranks (launch(), dist/api/launch.js) once with ONET_FASTLANE_MAX_BYTES=0 (the
// engine) and once with the default (the lane), and prints the median over 5 rounds of one
// `comm.allreduce` on a Float64Array(1), the slowest rank's. This file is also the rank program.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const api = (f) => import(join(ROOT, 'dist', 'api', f));

if (process.argv[2] === '--rank') {
  const { init } = await api('comm.js');
  const iters = Number(process.argv[3]);
  const comm = await init();
  const x = new Float64Array(1);
  for (let i = 0; i < 500; i++) await comm.allreduce(x);
  const rounds = [];
  for (let k = 0; k < 5; k++) {
    await comm.barrier();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) {
      x[0] = comm.rank + 1;
      await comm.allreduce(x);
    }
    rounds.push(Number(process.hrtime.bigint() - t0) / 1e3 / iters);
    if (x[0] !== (comm.world * (comm.world + 1)) / 2) throw new Error(`wrong sum ${x[0]}`);
  }
  rounds.sort((a, b) => a - b);
  console.log(`RESULT ${JSON.stringify({ us: rounds[2] })}`);
  await comm.close();
  process.exit(0);
}

const { launch } = await api('launch.js');
const nprocs = Number(process.argv[2] ?? 2);
const iters = Number(process.argv[3] ?? 20000);
const out = { world: nprocs, bytes: 8 };
for (const [name, env] of [
  ['engine', { ONET_FASTLANE_MAX_BYTES: '0' }],
  ['lane', {}],
]) {
  const job = await launch({
    nprocs,
    cmd: [process.execPath, fileURLToPath(import.meta.url), '--rank', String(iters)],
    env,
  });
  const us = [];
  job.on('log', (l) => {
    if (l.line.startsWith('RESULT ')) us.push(JSON.parse(l.line.slice(7)).us);
    else if (l.stream === 'stderr') process.stderr.write(`[${name} ${l.rank}] ${l.line}\n`);
  });
  const exit = await job.wait();
  if (exit.code !== 0 || us.length !== nprocs) throw new Error(`${name}: ranks failed (${JSON.stringify(exit)})`);
  out[name] = { allreduce_us: Math.max(...us) };
}
console.log(JSON.stringify(out, null, 1));
