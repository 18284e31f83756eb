// One rank of `onet bench`: for each collective and size, time `iters` calls on arrays that
// already live in the arena (zero-copy), check the last result, and (rank 0) print a row.
import { init } from '../api/comm.js';
import type { TypedArray } from '../api/tensor.js';
import { settingText } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { busbwFactor, type Coll } from '../gen/enums.js';

const cfg = JSON.parse(settingText('benchCfg') || '{}') as { ops: string[]; sizes: number[]; iters?: number };
const comm = await init({ framework: 'bench' });
const W = comm.world;
const BUS = (op: string): number => busbwFactor(op as Coll, W);
const expectSum = (W * (W + 1)) / 2;
let first = true;

for (const op of cfg.ops) {
  for (const bytes of cfg.sizes) {
    const count =
      Math.max(1, Math.floor(bytes / 4 / (op === 'allreduce' || op === 'broadcast' ? 1 : W))) *
      (op === 'allreduce' || op === 'broadcast' ? 1 : W);
    const x = comm.alloc(count, 'f32') as Float32Array;
    // Outputs live in the arena too, so nothing is copied out: the engine's speed is measured.
    const y =
      op === 'allgather' || op === 'alltoall'
        ? comm.alloc(count, 'f32')
        : op === 'reduce_scatter'
          ? comm.alloc(count / W, 'f32')
          : undefined;
    const iters = cfg.iters ?? Math.max(5, Math.min(1000, Math.floor(2e9 / Math.max(bytes, 1) / 20)));
    const once = async (): Promise<TypedArray | Float32Array> => {
      switch (op) {
        case 'allreduce':
          x.fill(comm.rank + 1);
          return comm.allreduce(x);
        case 'broadcast':
          x.fill(comm.rank + 1);
          return comm.broadcast(x, { root: 0 });
        case 'allgather':
          return comm.allgather(x.subarray(0, count / W), { out: y });
        case 'reduce_scatter':
          x.fill(comm.rank + 1);
          return comm.reduceScatter(x, { out: y });
        case 'alltoall':
          x.fill(comm.rank + 1);
          return comm.alltoall(x, { out: y });
        default:
          throw new OnetError('EINVAL', `unknown collective ${op} for bench`);
      }
    };
    // allreduce/broadcast overwrite x in place: refill outside the timed loop would cost a
    // memset per call, so the timed loop runs on whatever x holds and only the check refills.
    // Warm up (V8 optimises the call path, pages fault in) before timing.
    // The first second of a job runs slow on a VM (processes still starting, vCPUs halted):
    // the first size warms up longer. Counts, not clocks: every rank must make the same calls.
    const warm = first ? 3000 : Math.min(iters, 200);
    first = false;
    for (let i = 0; i < warm; i++) await once();
    await comm.barrier();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) {
      if (op === 'allreduce') await comm.allreduce(x);
      else if (op === 'broadcast') await comm.broadcast(x, { root: 0 });
      else if (op === 'allgather') await comm.allgather(x.subarray(0, count / W), { out: y });
      else if (op === 'reduce_scatter') await comm.reduceScatter(x, { out: y });
      else await comm.alltoall(x, { out: y });
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
    const slowest = (await comm.allreduce(Float64Array.of(secs), { op: 'max' }))[0];
    const out = await once();
    const want = op === 'allreduce' || op === 'reduce_scatter' ? expectSum : op === 'broadcast' ? 1 : NaN;
    let wrong = 0;
    if (!Number.isNaN(want)) for (let i = 0; i < out.length; i++) if (out[i] !== want) wrong++;
    const wrongAll = (await comm.allreduce(Float64Array.of(wrong)))[0];
    comm.free(x);
    if (y) comm.free(y);
    if (comm.rank === 0) {
      const size = count * 4;
      const algbw = size / slowest / 1e9;
      console.log(
        'ONET_BENCH ' +
          JSON.stringify({
            op,
            size,
            count,
            dtype: 'f32',
            redop: 'sum',
            timeUs: slowest * 1e6,
            algbw,
            busbw: algbw * BUS(op),
            wrong: wrongAll,
            iters,
          }),
      );
    }
  }
}
await comm.close();
