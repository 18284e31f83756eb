// CPU reduce kernels (native/reduce) against real torch, bit for bit, on every ISA path.
//
// Sweep: every op × dtype × k ∈ {1,2,3,5,8} × n ∈ {0,1,4097,1<<16}, inputs seeded with NaN
// (signalling payloads too), ±inf, -0, subnormals and near-overflow integers. torch computes
// the reference once (test/fixtures/torch_reduce_ref.py); the kernels run in one child process
// per ONET_SIMD value (test/fixtures/reduce_run.cjs), because the ISA is chosen at start-up.
//
// Compared bit-exactly, except: any NaN equals any NaN (payloads are not part of the
// contract), and for min/max a -0 equals a +0 — torch returns either zero depending on
// whether the element lands in its vector body or its scalar tail; we return the IEEE
// 754-2019 answer (min(-0,+0) = -0).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DTYPE_SIZE,
  DTYPES,
  type DType,
  FLOAT_DTYPES,
  INTEGER_ONLY_REDOPS,
  REDOPS,
  type RedOp,
} from '../src/gen/enums';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADDON = path.join(root, 'build/Release/onet.node');
const PYTHON = path.join(root, '.venv/bin/python');
const RUNNER = path.join(root, 'test/fixtures/reduce_run.cjs');
const REF = path.join(root, 'test/fixtures/torch_reduce_ref.py');

// Every op and dtype of spec/enums.json; a new one fails to type-check SCALE below until it has a reference.
const OPS = REDOPS;
type Op = RedOp;
type DT = DType;
const ISAS = ['generic', 'avx2', 'avx512'] as const;
const KS = [1, 2, 3, 5, 8];
const NS = [0, 1, 4097, 1 << 16];
const SIZE = DTYPE_SIZE;
const isFloat = (d: DT) => FLOAT_DTYPES.includes(d);
const isBitwise = (op: Op) => INTEGER_ONLY_REDOPS.includes(op);
// Floats: 0.1 is inexact in every float type, so a double-precision multiply would show.
// Integers: an integral scale (the only kind accepted); negative where the type is signed.
const SCALE: Record<DT, number> = { f32: 0.1, f64: 0.1, f16: 0.1, bf16: 0.1, i8: -3, u8: 3, i32: -7, i64: 5 };
// avg divides by `divisor`: k, except k = 5 divides by 7 (the engine's multi-pass case).
const divisorFor = (k: number) => (k === 5 ? 7 : k);

const haveAddon = fs.existsSync(ADDON);
const torchProbe = fs.existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }) : undefined;
const haveTorch = torchProbe?.status === 0;
if (!haveAddon) console.warn(`reduce.test: SKIPPED, ${ADDON} not built (npm run build:native)`);
else if (!haveTorch) console.warn(`reduce.test: torch sweep SKIPPED, no torch in ${PYTHON}`);

// ---- deterministic inputs that exercise the semantics -----------------------------------

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// 16-bit float bit patterns: mostly moderate magnitudes (so sums and products mean
// something), plus the specials and arbitrary bits (signalling NaNs, subnormals).
function half(r: () => number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const expMask = (1 << expBits) - 1;
  const u = r();
  const specials = [
    expMask << mantBits, // +inf
    (1 << 15) | (expMask << mantBits), // -inf
    (expMask << mantBits) | (1 << (mantBits - 1)), // quiet NaN
    (expMask << mantBits) | 1, // signalling NaN
    0x8000, // -0
    0,
    1, // smallest subnormal
    ((expMask - 1) << mantBits) | ((1 << mantBits) - 1), // largest finite
  ];
  if (u < 0.04) return specials[Math.floor(r() * specials.length)];
  if (u < 0.08) return Math.floor(r() * 65536);
  const e = bias - 6 + Math.floor(r() * 13);
  return ((r() < 0.5 ? 1 : 0) << 15) | (e << mantBits) | Math.floor(r() * (1 << mantBits));
}

function fill(dt: DT, buf: ArrayBuffer, off: number, n: number, r: () => number) {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  switch (dt) {
    case 'f32':
    case 'f64': {
      const a = dt === 'f32' ? new Float32Array(buf, off, n) : new Float64Array(buf, off, n);
      const max = dt === 'f32' ? 3.4028234663852886e38 : Number.MAX_VALUE;
      const tiny = dt === 'f32' ? 1.401298464324817e-45 : Number.MIN_VALUE;
      const bits = dt === 'f32' ? new Uint32Array(buf, off, n) : undefined;
      for (let i = 0; i < n; i++) {
        const u = r();
        if (u < 0.04) a[i] = pick([NaN, Infinity, -Infinity, -0, 0, max, -max, tiny, -tiny * 3]);
        else if (u < 0.06 && bits)
          bits[i] = Math.floor(r() * 4294967296); // any pattern, sNaN too
        else a[i] = (r() * 2 - 1) * 2 ** (Math.floor(r() * 17) - 8);
      }
      return;
    }
    case 'f16': {
      const a = new Uint16Array(buf, off, n);
      for (let i = 0; i < n; i++) a[i] = half(r, 5, 10);
      return;
    }
    case 'bf16': {
      const a = new Uint16Array(buf, off, n);
      for (let i = 0; i < n; i++) a[i] = half(r, 8, 7);
      return;
    }
    case 'i8':
    case 'u8':
    case 'i32': {
      const [A, lo, hi] =
        dt === 'i8'
          ? [Int8Array, -128, 127]
          : dt === 'u8'
            ? [Uint8Array, 0, 255]
            : [Int32Array, -(2 ** 31), 2 ** 31 - 1];
      const a = new A(buf, off, n);
      for (let i = 0; i < n; i++) {
        const u = r();
        if (u < 0.2) a[i] = pick([lo, lo + 1, hi, hi - 1, 0, 1, -1]);
        else if (u < 0.6) a[i] = lo + Math.floor(r() * (hi - lo + 1));
        else a[i] = Math.floor(r() * 21) - 10; // small: products that do not always wrap
      }
      return;
    }
    case 'i64': {
      const a = new BigInt64Array(buf, off, n);
      const ext = [-(2n ** 63n), -(2n ** 63n) + 1n, 2n ** 63n - 1n, 0n, 1n, -1n];
      for (let i = 0; i < n; i++) {
        const u = r();
        if (u < 0.2) a[i] = pick(ext);
        else if (u < 0.6)
          a[i] = BigInt.asIntN(64, (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32)));
        else a[i] = BigInt(Math.floor(r() * 21) - 10);
      }
      return;
    }
  }
}

// ---- comparison --------------------------------------------------------------------------

function isNaNBits(dt: DT, v: number): boolean {
  if (dt === 'f16') return (v & 0x7c00) === 0x7c00 && (v & 0x03ff) !== 0;
  return (v & 0x7f80) === 0x7f80 && (v & 0x007f) !== 0; // bf16
}

// First few elements where got differs from want, [] if they agree under the rules above.
function diff(dt: DT, op: Op, want: Uint8Array, got: Uint8Array, n: number): string[] {
  if (
    Buffer.from(want.buffer, want.byteOffset, want.byteLength).equals(
      Buffer.from(got.buffer, got.byteOffset, got.byteLength),
    )
  )
    return [];
  const out: string[] = [];
  const zerosEqual = op === 'min' || op === 'max';
  const copy = (b: Uint8Array) => b.slice().buffer; // aligned for any view
  if (dt === 'f32' || dt === 'f64') {
    const V = dt === 'f32' ? Float32Array : Float64Array;
    const w = new V(copy(want)),
      g = new V(copy(got));
    const wb = dt === 'f32' ? new Uint32Array(w.buffer) : new BigUint64Array(w.buffer);
    const gb = dt === 'f32' ? new Uint32Array(g.buffer) : new BigUint64Array(g.buffer);
    for (let i = 0; i < n && out.length < 3; i++) {
      if (wb[i] === gb[i] || (Number.isNaN(w[i]) && Number.isNaN(g[i])) || (zerosEqual && w[i] === 0 && g[i] === 0))
        continue;
      out.push(`[${i}] torch ${Object.is(w[i], -0) ? '-0' : w[i]} got ${Object.is(g[i], -0) ? '-0' : g[i]}`);
    }
  } else if (dt === 'f16' || dt === 'bf16') {
    const w = new Uint16Array(copy(want)),
      g = new Uint16Array(copy(got));
    for (let i = 0; i < n && out.length < 3; i++) {
      if (w[i] === g[i] || (isNaNBits(dt, w[i]) && isNaNBits(dt, g[i]))) continue;
      if (zerosEqual && (w[i] & 0x7fff) === 0 && (g[i] & 0x7fff) === 0) continue;
      out.push(`[${i}] torch 0x${w[i].toString(16)} got 0x${g[i].toString(16)}`);
    }
  } else {
    const size = SIZE[dt];
    for (let i = 0; i < n && out.length < 3; i++) {
      for (let b = 0; b < size; b++) {
        if (want[i * size + b] !== got[i * size + b]) {
          out.push(
            `[${i}] bytes differ (torch ${Array.from(want.subarray(i * size, (i + 1) * size))} got ` +
              `${Array.from(got.subarray(i * size, (i + 1) * size))})`,
          );
          break;
        }
      }
    }
  }
  return out;
}

// ---- the sweep ---------------------------------------------------------------------------

interface Case {
  set: number;
  op: Op;
  k: number;
  scale: number;
  divisor: number;
  offset: number;
}
interface Set {
  dtype: DT;
  n: number;
  offsets: number[];
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

describe.skipIf(!haveAddon || !haveTorch)('reduce kernels vs torch', () => {
  let dir = '';
  const sets: Set[] = [];
  const cases: Case[] = [];
  let expected: Uint8Array;
  const results = new Map<string, { isa: string; got: Uint8Array; inplace: Uint8Array }>();
  let best = '';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onet-reduce-'));
    // Layout: each input one element past a 64-byte boundary, each result 8-byte aligned.
    let inBytes = 0,
      outBytes = 0;
    for (const dtype of DTYPES)
      for (const n of NS) {
        const offsets: number[] = [];
        for (let j = 0; j < 8; j++) {
          const o = Math.ceil(inBytes / 64) * 64 + SIZE[dtype];
          offsets.push(o);
          inBytes = o + n * SIZE[dtype];
        }
        const set = sets.push({ dtype, n, offsets }) - 1;
        for (const k of KS)
          for (const op of OPS) {
            if (isBitwise(op) && isFloat(dtype)) continue;
            cases.push({ set, op, k, scale: SCALE[dtype], divisor: divisorFor(k), offset: outBytes });
            outBytes += Math.ceil((n * SIZE[dtype]) / 8) * 8;
          }
      }
    const inputs = new ArrayBuffer(Math.ceil(inBytes / 8) * 8);
    const r = rng(20240607);
    for (const s of sets) for (const o of s.offsets) fill(s.dtype, inputs, o, s.n, r);
    fs.writeFileSync(path.join(dir, 'inputs.bin'), new Uint8Array(inputs));
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ sets, cases, expectedBytes: outBytes }));

    const env = { ...process.env };
    delete env.ONET_SIMD;
    const [, bestOut, ...isaOut] = await Promise.all([
      run(PYTHON, [REF, dir], env),
      run(process.execPath, [RUNNER, ADDON, dir, 'default'], env),
      ...ISAS.map((isa) => run(process.execPath, [RUNNER, ADDON, dir, isa], { ...env, ONET_SIMD: isa })),
    ]);
    best = JSON.parse(bestOut).isa;
    expected = new Uint8Array(fs.readFileSync(path.join(dir, 'expected.bin')));
    ISAS.forEach((isa, i) =>
      results.set(isa, {
        isa: JSON.parse(isaOut[i]).isa,
        got: new Uint8Array(fs.readFileSync(path.join(dir, `got-${isa}.bin`))),
        inplace: new Uint8Array(fs.readFileSync(path.join(dir, `inplace-${isa}.bin`))),
      }),
    );
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe.each(ISAS)('ONET_SIMD=%s', (isa) => {
    test('picks that ISA, or the best the CPU has if lower', () => {
      const rank = (s: string) => ISAS.indexOf(s as (typeof ISAS)[number]);
      const want = ISAS[Math.min(rank(isa), rank(best))];
      if (want !== isa) console.warn(`reduce.test: CPU lacks ${isa}; its sweep ran on ${want}`);
      expect(results.get(isa)!.isa).toBe(want);
    });

    test.each(DTYPES)('%s: every op × k × n matches torch (out-of-place and in place)', (dtype) => {
      const { got, inplace } = results.get(isa)!;
      const failures: string[] = [];
      let checked = 0;
      for (const c of cases) {
        const s = sets[c.set];
        if (s.dtype !== dtype) continue;
        const bytes = s.n * SIZE[dtype];
        const want = expected.subarray(c.offset, c.offset + bytes);
        const label = `${c.op} k=${c.k} n=${s.n}`;
        for (const d of diff(dtype, c.op, want, got.subarray(c.offset, c.offset + bytes), s.n))
          failures.push(`${label}: ${d}`);
        if (s.n <= 4097)
          for (const d of diff(dtype, c.op, want, inplace.subarray(c.offset, c.offset + bytes), s.n))
            failures.push(`${label} in place: ${d}`);
        checked++;
      }
      expect(checked).toBe((isFloat(dtype) ? 6 : 9) * KS.length * NS.length);
      expect(failures.slice(0, 20)).toEqual([]);
    });
  });
});

// ---- errors, in this process -------------------------------------------------------------

describe.skipIf(!haveAddon)('reduce errors', () => {
  const addon = haveAddon ? createRequire(import.meta.url)(ADDON) : undefined;
  const op = (o: Op) => OPS.indexOf(o);
  const dt = (d: DT) => DTYPES.indexOf(d);
  // The addon's errors carry the code as a field (bindings/node/status_error.cc), not in the message.
  const coded = (code: string, msg?: RegExp) =>
    expect.objectContaining({ code, ranks: [], ...(msg ? { message: expect.stringMatching(msg) } : {}) });

  test.each(['f32', 'f64', 'f16', 'bf16'] as DT[])('bitwise ops on %s are ENOTSUP', (d) => {
    const V = d === 'f32' ? Float32Array : d === 'f64' ? Float64Array : Uint16Array;
    for (const o of ['band', 'bor', 'bxor'] as Op[])
      expect(() => addon.reduce(op(o), dt(d), new V(4), [new V(4), new V(4)], 1, 2)).toThrow(
        coded('ENOTSUP', /integer dtypes only/),
      );
  });

  test('integer premul_sum takes only integral scales that fit the dtype', () => {
    const a = new Int32Array([1, 2, 3]);
    expect(() => addon.reduce(op('premul_sum'), dt('i32'), new Int32Array(3), [a], 0.5, 1)).toThrow(
      coded('ENOTSUP', /^premul_sum on i32/),
    );
    expect(() => addon.reduce(op('premul_sum'), dt('u8'), new Uint8Array(3), [new Uint8Array(3)], -1, 1)).toThrow(
      coded('ENOTSUP'),
    );
    expect(() => addon.reduce(op('premul_sum'), dt('i8'), new Int8Array(3), [new Int8Array(3)], 128, 1)).toThrow(
      coded('ENOTSUP'),
    );
    expect(() =>
      addon.reduce(op('premul_sum'), dt('i64'), new BigInt64Array(3), [new BigInt64Array(3)], 2 ** 63, 1),
    ).toThrow(coded('ENOTSUP'));
    const out = new Int32Array(3);
    addon.reduce(op('premul_sum'), dt('i32'), out, [a, a], -2, 1);
    expect(Array.from(out)).toEqual([-4, -8, -12]);
  });

  test('malformed calls are EINVAL and name the problem', () => {
    const f = () => new Float32Array(4);
    expect(() => addon.reduce(99, dt('f32'), f(), [f()], 1, 1)).toThrow(coded('EINVAL', /unknown op 99/));
    expect(() => addon.reduce(op('sum'), 99, f(), [f()], 1, 1)).toThrow(coded('EINVAL', /unknown dtype 99/));
    expect(() => addon.reduce(op('sum'), dt('f32'), f(), [], 1, 1)).toThrow(coded('EINVAL', /at least one/));
    expect(() => addon.reduce(op('sum'), dt('f32'), f(), [new Float32Array(3)], 1, 1)).toThrow(
      coded('EINVAL', /inputs\[0\] has 12 bytes/),
    );
    expect(() => addon.reduce(op('avg'), dt('f32'), f(), [f()], 1, 0)).toThrow(coded('EINVAL', /divisor/));
    expect(() => addon.reduce(op('sum'), dt('f32'), f(), [f(), 'x'], 1, 1)).toThrow(
      coded('EINVAL', /inputs\[1\] is not a TypedArray/),
    );
    const shared = new Float32Array(8);
    expect(() => addon.reduce(op('sum'), dt('f32'), shared.subarray(0, 4), [f(), shared.subarray(2, 6)], 1, 1)).toThrow(
      coded('EINVAL', /overlaps inputs\[1\]/),
    );
    try {
      addon.reduce(op('band'), dt('f32'), f(), [f()], 1, 1);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ENOTSUP');
    }
  });

  test('works on byteOffset views, n = 0, and reports its ISA', () => {
    const buf = new Float32Array([9, 9, 1, 2, 3, 9]);
    const out = new Float32Array(6).fill(7);
    addon.reduce(op('sum'), dt('f32'), out.subarray(1, 4), [buf.subarray(2, 5), buf.subarray(2, 5)], 1, 1);
    expect(Array.from(out)).toEqual([7, 2, 4, 6, 7, 7]);
    addon.reduce(op('sum'), dt('f32'), new Float32Array(0), [new Float32Array(0), new Float32Array(0)], 1, 1);
    expect(['generic', 'avx2', 'avx512']).toContain(addon.simdIsa());
  });
});
