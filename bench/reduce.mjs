// Single-thread bandwidth of the CPU reduce kernels vs memcpy, counting bytes read + written
// (sum of k inputs into out: (k+1)·n·size bytes; memcpy of m bytes: 2m).
// usage: node bench/reduce.mjs [n=16M]      ONET_SIMD=generic|avx2|avx512 picks a lower ISA
import { createRequire } from 'node:module';
import { DTYPE_ARRAY, DTYPES, REDOPS } from '../dist/gen/enums.js';

const addon = createRequire(import.meta.url)('../build/Release/onet.node');
const n = Number(process.argv[2] ?? 16 * 1024 * 1024);
const OP = { sum: REDOPS.indexOf('sum') };
const DT = Object.fromEntries(['f32', 'bf16', 'f16'].map((d) => [d, [DTYPES.indexOf(d), DTYPE_ARRAY[d]]]));

function time(fn, bytes) {
  fn(); // warm: page faults, caches
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return bytes / best / 1e9;
}

function memcpy(bytes) {
  const src = new Uint8Array(bytes).fill(1),
    dst = new Uint8Array(bytes);
  return time(() => dst.set(src), 2 * bytes);
}

console.log(`isa=${addon.simdIsa()} n=${n}`);
const rows = [];
for (const [name, k, inPlace] of [
  ['f32', 2, false],
  ['f32', 2, true],
  ['f32', 4, false],
  ['f32', 8, false],
  ['bf16', 2, false],
  ['bf16', 8, false],
  ['f16', 2, false],
]) {
  const [dt, V] = DT[name];
  const ins = Array.from({ length: k }, (_, j) => new V(n).fill(j + 1));
  const out = inPlace ? ins[0] : new V(n);
  const bytes = (k + 1) * n * V.BYTES_PER_ELEMENT;
  const gbs = time(() => addon.reduce(OP.sum, dt, out, ins, 1, k), bytes);
  const ref = memcpy(bytes / 2);
  rows.push({
    kernel: `${name} sum k=${k}${inPlace ? ' in place' : ''}`,
    'GB/s': gbs.toFixed(1),
    'memcpy GB/s': ref.toFixed(1),
    ratio: (gbs / ref).toFixed(2),
  });
}
console.table(rows);
