// Per-call compression of a cross-host allreduce (docs/compression.md): the codec and the error-feedback
// key travel in the slot's flags (spec/layout.json slotFlags: compression, efKey).

import { OnetError } from '../errors.js';
import { SLOT_FLAG } from '../gen/layout.js';

/** A call's codec: the group's choice unless given. `topk` keeps the ratio of the group's topk:R (else 1%). */
export type Compression = 'auto' | 'off' | 'bf16' | 'fp16' | 'int8' | 'topk' | 'zstd' | 'lz4';
const CODES: Record<Compression, number> = { off: 1, bf16: 2, fp16: 3, int8: 4, topk: 5, zstd: 6, lz4: 7, auto: 8 };

export interface CompressionOptions {
  compression?: Compression;
  /** Error feedback: the lossy codec's residual is kept per (group, key) and added to the next call (1..65535). */
  key?: number;
}

/** The slot flags for these options; a bad value is EINVAL naming the valid ones. */
export function compressionFlags(o: CompressionOptions): number {
  let f = 0;
  if (o.compression !== undefined) {
    const code = CODES[o.compression as Compression];
    if (code === undefined)
      throw new OnetError(
        'EINVAL',
        `compression '${o.compression}' is not one of ${Object.keys(CODES).join(', ')} (topk takes the group's ratio)`,
      );
    f += code * SLOT_FLAG.compression;
  }
  if (o.key !== undefined) {
    if (!Number.isInteger(o.key) || o.key < 1 || o.key > 0xffff)
      throw new OnetError('EINVAL', `error-feedback key ${o.key} must be an integer in 1..65535 (omit it for none)`);
    f += o.key * SLOT_FLAG.efKey;
  }
  return f;
}
