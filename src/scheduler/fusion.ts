// Tensor fusion (Horovod's idea): small allreduces of the same (group, dtype, op) that arrive
// within one cycle are laid out in one buffer, reduced once, and split back. Pure planning and
// copying, no I/O: the coordinator feeds it requests and runs the plan.
//
// Invariant: a plan depends only on the request list (order, sizes, arrival stamps), so every
// host that plans the same list gets the same layout. Whoever feeds it across hosts must give
// all of them the same list (the bootstrap host plans and broadcasts; see docs/scheduling.md).
import { setting } from '../config/settings.js';
import { DTYPE_SIZE, type DType, type RedOp } from '../bridge/protocol.js';
import { OnetError } from '../errors.js';

export interface FusionRequest {
  id: string | number;
  group: number;
  dtype: DType;
  op: RedOp;
  bytes: number;
  arrivalUs: number;
  scale?: number;  // premul_sum's factor: only equal factors fuse
}
export interface FusedMember { id: string | number; offset: number; bytes: number }
export interface FusionBucket { group: number; dtype: DType; op: RedOp; scale?: number; bytes: number; openedUs: number; members: FusedMember[] }
export interface FusionOptions { fusionBytes: number; cycleUs: number; alignBytes?: number }

export function fusionOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): FusionOptions {
  const o = { fusionBytes: setting('fusionBytes', env) as number, cycleUs: setting('cycleUs', env) as number };
  if (o.cycleUs < 0) throw new OnetError('EINVAL', `ONET_CYCLE_US=${o.cycleUs} must be ≥ 0 microseconds`);
  return o;
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** Buckets in the order their first request arrived; a request too big to fuse gets its own. */
export function planFusion(requests: FusionRequest[], o: FusionOptions): FusionBucket[] {
  const align = o.alignBytes ?? 64;  // Arrow / SIMD alignment, so each member stays aligned in the fused buffer
  requests.forEach((r, i) => {
    const el = DTYPE_SIZE[r.dtype];
    if (!el) throw new OnetError('EINVAL', `fusion request ${i} (id ${r.id}): unknown dtype ${JSON.stringify(r.dtype)}`);
    if (!Number.isInteger(r.bytes) || r.bytes < 0 || r.bytes % el)
      throw new OnetError('EINVAL', `fusion request ${i} (id ${r.id}): ${r.bytes} bytes is not a whole number of ${r.dtype} elements`);
  });
  const order = requests.map((r, i) => ({ r, i })).sort((a, b) => a.r.arrivalUs - b.r.arrivalUs || a.i - b.i);
  const buckets: FusionBucket[] = [];
  const open = new Map<string, FusionBucket>();
  for (const { r } of order) {
    const key = `${r.group}/${r.dtype}/${r.op}/${r.scale ?? ''}`;
    let b = open.get(key);
    const at = b ? alignUp(b.bytes, Math.max(align, DTYPE_SIZE[r.dtype])) : 0;
    const fits = b && r.arrivalUs - b.openedUs <= o.cycleUs && at + r.bytes <= o.fusionBytes;
    if (!b || !fits) {
      b = { group: r.group, dtype: r.dtype, op: r.op, ...(r.scale !== undefined ? { scale: r.scale } : {}), bytes: 0, openedUs: r.arrivalUs, members: [] };
      buckets.push(b);
      // Too big to share (or fusion off): stands alone and closes nothing else's bucket.
      if (r.bytes >= o.fusionBytes || o.fusionBytes <= 0) { b.members.push({ id: r.id, offset: 0, bytes: r.bytes }); b.bytes = r.bytes; continue; }
      open.set(key, b);
    }
    const offset = b.members.length ? alignUp(b.bytes, Math.max(align, DTYPE_SIZE[r.dtype])) : 0;
    b.members.push({ id: r.id, offset, bytes: r.bytes });
    b.bytes = offset + r.bytes;
  }
  return buckets;
}

/** Copy each member's input into one zero-padded buffer laid out as the bucket says. */
export function pack(b: FusionBucket, inputs: Map<string | number, Uint8Array>): Uint8Array {
  const out = new Uint8Array(b.bytes);
  for (const m of b.members) {
    const src = inputs.get(m.id);
    if (!src || src.byteLength !== m.bytes) throw new OnetError('EINVAL', `fusion: input ${m.id} has ${src?.byteLength ?? 'no'} bytes, the plan expects ${m.bytes}`);
    out.set(src, m.offset);
  }
  return out;
}

/** Split a reduced fused buffer back into per-request results (copies, so the buffer can be reused). */
export function unpack(b: FusionBucket, fused: Uint8Array): Map<string | number, Uint8Array> {
  if (fused.byteLength < b.bytes) throw new OnetError('EINVAL', `fusion: result has ${fused.byteLength} bytes, the bucket needs ${b.bytes}`);
  return new Map(b.members.map((m) => [m.id, fused.slice(m.offset, m.offset + m.bytes)]));
}
