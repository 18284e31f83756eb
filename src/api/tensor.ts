// Typed arrays and apache-arrow Vectors as collective inputs: which dtype they carry and
// how to make a result of the same kind.
import { OnetError } from '../errors.js';
import { ARRAY_DTYPE, DTYPE_ARRAY, DTYPE_SIZE, DTYPES, type DType } from '../gen/enums.js';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int32Array
  | BigInt64Array
  | Uint16Array;
/** Anything with arrow Vector's shape: `.type` and `.toArray()`. */
export interface VectorLike {
  type: unknown;
  toArray(): unknown;
  length: number;
}
export type TensorLike = TypedArray | VectorLike;

// Which typed array holds each dtype, and which arrays name one dtype: spec/enums.json (src/gen/enums.ts).
export const CTOR = DTYPE_ARRAY as unknown as Record<
  DType,
  new (
    b: ArrayBufferLike,
    off: number,
    n: number,
  ) => TypedArray
>;

export function isVector(x: unknown): x is VectorLike {
  return (
    !!x && typeof x === 'object' && 'type' in x && typeof (x as any).toArray === 'function' && !ArrayBuffer.isView(x)
  );
}

/** The typed array behind x (an arrow Vector's values, zero-copy when it is one chunk). */
export function asTyped(x: TensorLike, what = 'tensor'): TypedArray {
  if (ArrayBuffer.isView(x)) return x as TypedArray;
  if (isVector(x)) return x.toArray() as TypedArray;
  throw new OnetError(
    'EINVAL',
    `${what} must be a typed array (Float32Array, Float64Array, Int8Array, Uint8Array, Int32Array, BigInt64Array, ` +
      `Uint16Array with dtype f16/bf16) or an apache-arrow Vector, got ${Object.prototype.toString.call(x)}`,
  );
}

export function dtypeOf(x: TypedArray, given?: DType): DType {
  if (given !== undefined) {
    if (!DTYPES.includes(given))
      throw new OnetError('EINVAL', `unknown dtype ${JSON.stringify(given)}; use one of ${DTYPES.join(', ')}`);
    if (x.BYTES_PER_ELEMENT !== DTYPE_SIZE[given])
      throw new OnetError(
        'EINVAL',
        `dtype ${given} has ${DTYPE_SIZE[given]}-byte elements but the array has ${x.BYTES_PER_ELEMENT}-byte elements`,
      );
    return given;
  }
  for (const [c, d] of ARRAY_DTYPE) if (x instanceof c) return d;
  if (x instanceof Uint16Array)
    throw new OnetError('EINVAL', 'a Uint16Array is ambiguous: pass { dtype: "f16" } or { dtype: "bf16" }');
  throw new OnetError('EINVAL', `${x.constructor.name} is not a supported element type; use ${DTYPES.join(', ')}`);
}
