// `onet bench`: an nccl-tests-style table for each collective over a size sweep, run by N
// Node rank processes on data already in their arenas, with this machine's memcpy bandwidth
// measured in the same run as the limit line.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBytes } from '../config/settings.js';
import { Coordinator } from '../coordinator/server.js';
import { OnetError } from '../errors.js';
import { native } from '../native/addon.js';
import { Progress } from '../telemetry/progress.js';

export interface BenchRow {
  op: string;
  size: number;
  count: number;
  dtype: string;
  redop: string;
  timeUs: number;
  algbw: number;
  busbw: number;
  wrong: number;
  iters: number;
}

export function sweep(min: number, max: number): number[] {
  const out: number[] = [];
  for (let s = Math.max(1, min); s <= max; s *= 4) out.push(s);
  if (out[out.length - 1] !== max) out.push(max);
  return out;
}

export function formatTable(rows: BenchRow[]): string {
  const head =
    `${'size(B)'.padStart(12)} ${'count'.padStart(10)} ${'type'.padStart(5)} ${'redop'.padStart(5)} ` +
    `${'time(us)'.padStart(10)} ${'algbw(GB/s)'.padStart(12)} ${'busbw(GB/s)'.padStart(12)} ${'#wrong'.padStart(7)}`;
  return [
    head,
    ...rows.map(
      (r) =>
        `${String(r.size).padStart(12)} ${String(r.count).padStart(10)} ${r.dtype.padStart(5)} ` +
        `${r.redop.padStart(5)} ${r.timeUs.toFixed(1).padStart(10)} ${r.algbw.toFixed(2).padStart(12)} ` +
        `${r.busbw.toFixed(2).padStart(12)} ${String(r.wrong).padStart(7)}`,
    ),
  ].join('\n');
}

export async function runBench(o: {
  nprocs: number;
  ops: string[];
  sizes: number[];
  iters?: number;
  progress?: Progress;
}): Promise<BenchRow[]> {
  const job = `bench-${process.pid}-${randomBytes(3).toString('hex')}`;
  const maxBytes = Math.max(...o.sizes);
  const env = {
    ...process.env,
    ONET_JOB_ID: job,
    ONET_ARENA_BYTES: String(Math.max(64 << 20, maxBytes * 2 + (16 << 20))),
    ONET_BENCH_CFG: JSON.stringify({ ops: o.ops, sizes: o.sizes, iters: o.iters }),
  };
  const coord = await Coordinator.start({ job, world: o.nprocs, env, log: () => {} });
  const worker = join(dirname(fileURLToPath(import.meta.url)), 'bench_worker.js');
  const rows: BenchRow[] = [];
  const codes = await Promise.all(
    Array.from(
      { length: o.nprocs },
      (_, r) =>
        new Promise<number>((resolve) => {
          const p = spawn(process.execPath, [worker], {
            env: {
              ...env,
              RANK: String(r),
              WORLD_SIZE: String(o.nprocs),
              LOCAL_RANK: String(r),
              LOCAL_WORLD_SIZE: String(o.nprocs),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let buf = '';
          p.stdout.on('data', (d) => {
            buf += d;
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
              const l = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (!l.startsWith('ONET_BENCH ')) continue;
              const row = JSON.parse(l.slice(11)) as BenchRow;
              rows.push(row);
              o.progress?.update(rows.length, `${row.op} ${row.size} B: ${row.timeUs.toFixed(1)} us`);
            }
          });
          p.on('close', (code) => resolve(code ?? 1));
        }),
    ),
  );
  await coord.close();
  if (codes.some((c) => c !== 0))
    throw new OnetError('EINTERNAL', `a benchmark rank failed (exit codes ${codes.join(', ')})`);
  return rows;
}

export async function bench(o: {
  nprocs: string;
  min: string;
  max: string;
  ops: string;
  iters?: string;
  json?: boolean;
}): Promise<number> {
  const nprocs = Number(o.nprocs);
  const sizes = sweep(parseBytes(o.min, '--min'), parseBytes(o.max, '--max'));
  const ops = o.ops
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const memcpy1 = native.memcpyBench(64 << 20, 1, 4),
    memcpy2 = native.memcpyBench(64 << 20, 2, 4);
  const progress = new Progress({ label: 'onet bench', total: ops.length * sizes.length });
  const rows = await runBench({ nprocs, ops, sizes, iters: o.iters ? Number(o.iters) : undefined, progress });
  progress.finish();
  if (o.json) {
    console.log(
      JSON.stringify(
        { nprocs, simd: native.simdIsa(), memcpy1GBs: memcpy1 / 1e9, memcpy2GBs: memcpy2 / 1e9, rows },
        null,
        2,
      ),
    );
  } else {
    console.log(`# onet bench: ${nprocs} Node ranks, f32, data in the arena, SIMD ${native.simdIsa()}`);
    console.log(
      `# limit: memcpy ${(memcpy1 / 1e9).toFixed(2)} GB/s (1 thread), ${(memcpy2 / 1e9).toFixed(2)} GB/s (2 ` +
        `threads), bytes copied per second`,
    );
    for (const op of ops) {
      console.log(`\n## ${op}`);
      const mine = rows.filter((r) => r.op === op);
      console.log(formatTable(mine));
      const big = mine[mine.length - 1];
      if (big)
        console.log(`# largest size: busbw ${((big.busbw / (memcpy2 / 1e9)) * 100).toFixed(0)}% of 2-thread memcpy`);
    }
  }
  return rows.some((r) => r.wrong) ? 1 : 0;
}
