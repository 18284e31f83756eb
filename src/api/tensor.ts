// Typed arrays and apache-arrow Vectors as collective inputs: which dtype they carry and
// how to make a result of the same kind.
import { OnetError } from '../errors.js';
import { DTYPES, DTYPE_SIZE, type DType } from '../bridge/protocol.js';

export type TypedArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;
/** Anything with arrow Vector's shape: `.type` and `.toArray()`. */
export interface VectorLike { type: unknown; toArray(): unknown; length: number }
export type TensorLike = TypedArray | VectorLike;

const BY_CTOR: Array<[Function, DType]> = [
  [Float32Array, 'f32'], [Float64Array, 'f64'], [Int8Array, 'i8'], [Uint8Array, 'u8'], [Int32Array, 'i32'], [BigInt64Array, 'i64'],
];
export const CTOR: Record<DType, new (b: ArrayBufferLike, off: number, n: number) => TypedArray> = {
  f32: Float32Array, f64: Float64Array, f16: Uint16Array, bf16: Uint16Array, i8: Int8Array, u8: Uint8Array, i32: Int32Array, i64: BigInt64Array,
} as any;

export function isVector(x: unknown): x is VectorLike {
  return !!x && typeof x === 'object' && 'type' in x && typeof (x as any).toArray === 'function' && !ArrayBuffer.isView(x);
}

/** The typed array behind x (an arrow Vector's values, zero-copy when it is one chunk). */
export function asTyped(x: TensorLike, what = 'tensor'): TypedArray {
  if (ArrayBuffer.isView(x)) return x as TypedArray;
  if (isVector(x)) return x.toArray() as TypedArray;
  throw new OnetError('EINVAL', `${what} must be a typed array (Float32Array, Float64Array, Int8Array, Uint8Array, Int32Array, BigInt64Array, Uint16Array with dtype f16/bf16) or an apache-arrow Vector, got ${Object.prototype.toString.call(x)}`);
}

export function dtypeOf(x: TypedArray, given?: DType): DType {
  if (given !== undefined) {
    if (!DTYPES.includes(given)) throw new OnetError('EINVAL', `unknown dtype ${JSON.stringify(given)}; use one of ${DTYPES.join(', ')}`);
    if (x.BYTES_PER_ELEMENT !== DTYPE_SIZE[given])
      throw new OnetError('EINVAL', `dtype ${given} has ${DTYPE_SIZE[given]}-byte elements but the array has ${x.BYTES_PER_ELEMENT}-byte elements`);
    return given;
  }
  for (const [c, d] of BY_CTOR) if (x instanceof c) return d;
  if (x instanceof Uint16Array) throw new OnetError('EINVAL', 'a Uint16Array is ambiguous: pass { dtype: "f16" } or { dtype: "bf16" }');
  throw new OnetError('EINVAL', `${x.constructor.name} is not a supported element type; use ${DTYPES.join(', ')}`);
}
