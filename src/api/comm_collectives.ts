// The collectives behind Comm's methods (src/api/comm.ts): each checks its arguments, describes
// its buffers as a Spec and hands it to the communicator's run() (src/api/comm_run.ts).
import { DTYPE_SIZE, type DType, type RedOp } from '../bridge/protocol.js';
import { OnetError } from '../errors.js';
import { checkBlocks, checkCounts, checkOut, checkRoot, type Who } from './comm_checks.js';
import type { Done, Spec } from './comm_run.js';
import { type CompressionOptions, compressionFlags } from './compression.js';
import { asTyped, CTOR, dtypeOf, type TensorLike, type TypedArray } from './tensor.js';

export interface ReduceOptions extends CompressionOptions {
  op?: RedOp;
  dtype?: DType;
  scale?: number;
  out?: TypedArray;
}
export interface RootOptions {
  root?: number;
  dtype?: DType;
  out?: TypedArray;
}

/** A communicator as its collectives see it: who is calling, and the one way to post. */
export interface Runner extends Who {
  run(s: Spec): Promise<Done>;
}

const sum = (c: number[]) => c.reduce((a, b) => a + b, 0);

/** The result of an in-place collective, written back into the caller's own x. */
function into<T extends TensorLike>(t: TypedArray, d: Done, x: T): T {
  if (d.out !== t) (t as any).set(d.out);
  return x;
}

export async function allreduce<T extends TensorLike>(c: Runner, x: T, o: ReduceOptions): Promise<T> {
  const t = asTyped(x);
  const out = checkOut(c, o.out, t);
  const d = await c.run({
    coll: 'allreduce',
    dtype: dtypeOf(t, o.dtype),
    count: t.length,
    redop: o.op,
    scale: o.scale,
    input: t,
    output: out,
    inBytes: t.byteLength,
    outBytes: t.byteLength,
    inPlace: !out,
    flags: compressionFlags(o),
  });
  return (out ? d.out : into(t, d, x)) as T;
}

export async function reduce<T extends TensorLike>(c: Runner, x: T, o: ReduceOptions & RootOptions): Promise<T> {
  const t = asTyped(x);
  const root = checkRoot(c, o.root);
  const out = checkOut(c, o.out, t);
  const d = await c.run({
    coll: 'reduce',
    dtype: dtypeOf(t, o.dtype),
    count: t.length,
    redop: o.op,
    scale: o.scale,
    root,
    input: t,
    output: out,
    inBytes: t.byteLength,
    outBytes: t.byteLength,
    inPlace: !out,
  });
  if (c.rank !== root) return x;
  return (out ? d.out : into(t, d, x)) as T;
}

export async function broadcast<T extends TensorLike>(c: Runner, x: T, o: RootOptions): Promise<T> {
  const t = asTyped(x);
  const out = checkOut(c, o.out, t);
  const d = await c.run({
    coll: 'broadcast',
    dtype: dtypeOf(t, o.dtype),
    count: t.length,
    root: checkRoot(c, o.root),
    input: t,
    output: out,
    inBytes: t.byteLength,
    outBytes: t.byteLength,
    inPlace: !out,
  });
  return (out ? d.out : into(t, d, x)) as T;
}

export async function allgather(c: Runner, x: TensorLike, o: { dtype?: DType; out?: TypedArray }): Promise<TypedArray> {
  const t = asTyped(x);
  const out = checkOut(c, o.out, t, t.length * c.world);
  return (
    await c.run({
      coll: 'allgather',
      dtype: dtypeOf(t, o.dtype),
      count: t.length,
      input: t,
      output: out,
      inBytes: t.byteLength,
      outBytes: t.byteLength * c.world,
    })
  ).out;
}

export async function allgatherv(
  c: Runner,
  x: TensorLike,
  o: { counts: number[]; dtype?: DType },
): Promise<TypedArray> {
  const t = asTyped(x);
  const counts = checkCounts(c, o?.counts, 'counts');
  return (
    await c.run({
      coll: 'allgatherv',
      dtype: dtypeOf(t, o.dtype),
      count: t.length,
      input: t,
      inBytes: t.byteLength,
      outBytes: sum(counts) * t.BYTES_PER_ELEMENT,
      aux: BigUint64Array.from(counts.map(BigInt)),
    })
  ).out;
}

export async function reduceScatter(c: Runner, x: TensorLike, o: ReduceOptions): Promise<TypedArray> {
  const t = asTyped(x);
  checkBlocks(c, 'reduceScatter', t.length);
  const n = t.length / c.world;
  const out = checkOut(c, o.out, t, n);
  return (
    await c.run({
      coll: 'reduce_scatter',
      dtype: dtypeOf(t, o.dtype),
      count: n,
      redop: o.op,
      scale: o.scale,
      input: t,
      output: out,
      inBytes: t.byteLength,
      outBytes: n * t.BYTES_PER_ELEMENT,
    })
  ).out;
}

export async function reduceScatterv(
  c: Runner,
  x: TensorLike,
  o: ReduceOptions & { counts: number[] },
): Promise<TypedArray> {
  const t = asTyped(x);
  const counts = checkCounts(c, o?.counts, 'counts');
  const total = sum(counts);
  if (total !== t.length)
    throw new OnetError('EINVAL', `reduceScatterv: counts add up to ${total} but x has ${t.length} elements`, [c.rank]);
  return (
    await c.run({
      coll: 'reduce_scatterv',
      dtype: dtypeOf(t, o.dtype),
      count: counts[c.rank],
      redop: o.op,
      scale: o.scale,
      input: t,
      inBytes: t.byteLength,
      outBytes: counts[c.rank] * t.BYTES_PER_ELEMENT,
      aux: BigUint64Array.from(counts.map(BigInt)),
    })
  ).out;
}

export async function alltoall(c: Runner, x: TensorLike, o: { dtype?: DType; out?: TypedArray }): Promise<TypedArray> {
  const t = asTyped(x);
  const out = checkOut(c, o.out, t);
  checkBlocks(c, 'alltoall', t.length);
  return (
    await c.run({
      coll: 'alltoall',
      dtype: dtypeOf(t, o.dtype),
      count: t.length / c.world,
      input: t,
      output: out,
      inBytes: t.byteLength,
      outBytes: t.byteLength,
    })
  ).out;
}

export async function alltoallv(
  c: Runner,
  x: TensorLike,
  o: { sendCounts: number[]; recvCounts: number[]; dtype?: DType },
): Promise<TypedArray> {
  const t = asTyped(x);
  const sc = checkCounts(c, o?.sendCounts, 'sendCounts');
  const rc = checkCounts(c, o?.recvCounts, 'recvCounts');
  const displs = (n: number[]) => n.map((_, i) => sum(n.slice(0, i)));
  const sTotal = sum(sc);
  if (sTotal > t.length)
    throw new OnetError('EINVAL', `alltoallv: sendCounts add up to ${sTotal} but x has ${t.length} elements`, [c.rank]);
  const aux = BigUint64Array.from([...sc, ...displs(sc), ...rc, ...displs(rc)].map(BigInt));
  return (
    await c.run({
      coll: 'alltoallv',
      dtype: dtypeOf(t, o.dtype),
      count: 0,
      input: t,
      inBytes: t.byteLength,
      outBytes: sum(rc) * t.BYTES_PER_ELEMENT,
      aux,
    })
  ).out;
}

export async function gather(c: Runner, x: TensorLike, o: RootOptions): Promise<TypedArray | null> {
  const t = asTyped(x);
  const root = checkRoot(c, o.root);
  const d = await c.run({
    coll: 'gather',
    dtype: dtypeOf(t, o.dtype),
    count: t.length,
    root,
    input: t,
    inBytes: t.byteLength,
    outBytes: c.rank === root ? t.byteLength * c.world : 0,
  });
  return c.rank === root ? d.out : null;
}

export async function scatter(
  c: Runner,
  x: TensorLike | null,
  o: RootOptions & { count: number; dtype?: DType },
): Promise<TypedArray> {
  const root = checkRoot(c, o?.root);
  const count = o?.count;
  if (!Number.isInteger(count) || count < 0)
    throw new OnetError('EINVAL', 'scatter needs { count }: the elements each rank receives', [c.rank]);
  let t: TypedArray;
  if (c.rank === root) {
    if (x == null) throw new OnetError('EINVAL', 'scatter: the root must pass the array to scatter', [c.rank]);
    t = asTyped(x);
    if (t.length !== count * c.world)
      throw new OnetError(
        'EINVAL',
        `scatter: root passed ${t.length} elements, expected count × world = ${count * c.world}`,
        [c.rank],
      );
  } else {
    const dtype = o.dtype ?? (x != null ? dtypeOf(asTyped(x)) : 'f32');
    t = new CTOR[dtype](new ArrayBuffer(0), 0, 0);
  }
  const dtype = dtypeOf(t, o.dtype);
  return (
    await c.run({
      coll: 'scatter',
      dtype,
      count,
      root,
      input: t,
      inBytes: t.byteLength,
      outBytes: count * DTYPE_SIZE[dtype],
    })
  ).out;
}

export async function barrier(c: Runner): Promise<void> {
  await c.run({ coll: 'barrier', dtype: 'u8', count: 0, inBytes: 0, outBytes: 0 });
}
