// One rank of bench/wan.mjs (OpenNetworks): a first 1-element allreduce (time from process start
// to its completion), then per size in ONET_WAN_BENCH_SIZES (bytes of f32) ONET_WAN_BENCH_WARM
// warm-ups and ONET_WAN_BENCH_REPS timed allreduces, each after a barrier. Prints
// ONET_RESULT {rank, firstMs, times: {bytes: [s, ...]}} (and ONET_PARTIAL, the same so far, after each size).
import { performance } from 'node:perf_hooks';
import { init } from '../dist/index.js';

const E = process.env;
const sizes = (E.ONET_WAN_BENCH_SIZES ?? String(16 << 20)).split(',').map(Number);
const warm = Number(E.ONET_WAN_BENCH_WARM ?? 1);
const reps = (E.ONET_WAN_BENCH_REPS ?? '3').split(',').map(Number);
const comm = await init();
const one = Float32Array.of(comm.rank);
await comm.allreduce(one);
// From process start (or the driver's spawn time, ONET_WAN_BENCH_T0 in ms) to the first collective done.
const firstMs = E.ONET_WAN_BENCH_T0 ? Date.now() - Number(E.ONET_WAN_BENCH_T0) : performance.now();
const res = { rank: comm.rank, firstMs: Math.round(firstMs), times: {} };
for (const bytes of sizes) res.times[bytes] = [];
for (const [i, bytes] of sizes.entries()) {
  const x = new Float32Array(bytes / 4).fill(1);
  for (let k = 0; k < warm + (reps[i] ?? reps[0]); k++) {
    await comm.barrier();
    const t0 = performance.now();
    await comm.allreduce(x);
    if (k >= warm) res.times[bytes].push((performance.now() - t0) / 1000);
  }
  if (x[0] !== comm.world ** (warm + (reps[i] ?? reps[0]))) res.wrong = `allreduce of ${bytes} B: got ${x[0]}`;
  console.log(`ONET_PARTIAL ${JSON.stringify(res)}`); // what a later failure leaves of this run
}
console.log(`ONET_RESULT ${JSON.stringify(res)}`);
await comm.close();
process.exit(0);
