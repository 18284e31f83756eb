// One collective's trip through the engine: place inputs in the arena (zero-copy when the array
// was made by comm.alloc), post a slot, spin briefly, then wait off the JS thread; copy the
// result out unless it already lives in the caller's arena array.
import { COLL, type Coll, DTYPE_SIZE, DTYPES, type DType, LAYOUT, REDOPS, type RedOp } from '../bridge/protocol.js';
import { OnetError } from '../errors.js';
import { native } from '../native/addon.js';
import type { Arena } from './arena.js';
import { CTOR, type TypedArray } from './tensor.js';

/** What a Comm method asks of the engine. */
export interface Spec {
  coll: Coll;
  dtype: DType;
  count: number;
  redop?: RedOp;
  root?: number;
  tag?: number;
  scale?: number;
  input?: TypedArray;
  output?: TypedArray;
  inBytes: number;
  outBytes: number;
  aux?: BigUint64Array;
  inPlace?: boolean;
  group?: number;
  seq?: bigint;
  flags?: number; // compression and error-feedback key (src/api/compression.ts)
}
/** What the engine hands back: the result, its source rank (recv) and its element count. */
export interface Done {
  out: TypedArray;
  src: number;
  outCount: number;
}

/** The communicator state one post needs. */
export interface Slotted {
  readonly arena: Arena;
  readonly ctl: ArrayBuffer;
  readonly group: number;
  readonly spinUs: number;
  readonly timeoutMs: number;
}

/** Post s as collective number seq with a checked reduce op and wait for it to complete. */
export async function postAndWait(c: Slotted, s: Spec, seq: bigint, redop: RedOp): Promise<Done> {
  const a = c.arena;
  const owned: Array<[number, number]> = [];
  const place = (bytes: number) => {
    const off = a.alloc(bytes);
    owned.push([off, bytes]);
    return off;
  };
  let slot = -1;
  try {
    // Inputs already in the arena are used where they are; others are copied in once.
    let inOff = s.input ? a.offsetOf(s.input) : -1;
    if (inOff < 0 && s.inBytes > 0) {
      inOff = place(s.inBytes);
      a.data.set(new Uint8Array(s.input!.buffer, s.input!.byteOffset, s.inBytes), inOff);
    }
    const given = s.output ? a.offsetOf(s.output) : -1;
    const outOff = s.inPlace && inOff >= 0 ? inOff : given >= 0 ? given : s.outBytes > 0 ? place(s.outBytes) : 0;
    let auxOff = 0;
    if (s.aux) {
      auxOff = place(s.aux.byteLength);
      a.data.set(new Uint8Array(s.aux.buffer, s.aux.byteOffset, s.aux.byteLength), auxOff);
    }
    slot = a.takeSlot();
    a.writeSlot(slot, {
      seq,
      coll: COLL[s.coll],
      dtype: DTYPES.indexOf(s.dtype),
      redop: REDOPS.indexOf(redop),
      root: s.root ?? 0,
      count: BigInt(s.count),
      inOff: BigInt(Math.max(inOff, 0)),
      outOff: BigInt(outOff),
      auxOff: BigInt(auxOff),
      group: s.group ?? c.group,
      tag: s.tag ?? 0,
      scale: s.scale ?? 1,
      flags: s.flags ?? 0,
    });
    native.post(a.buffer, c.ctl, slot);
    let state = native.spin(a.buffer, slot, c.spinUs);
    if (state === LAYOUT.state.posted) state = await native.wait(a.buffer, c.ctl, slot, c.timeoutMs);
    const r = a.finishSlot(slot);
    slot = -1;
    if (r.state === LAYOUT.state.error) throw OnetError.fromStatus(r.status, r.msg, r.ranks);
    const es = DTYPE_SIZE[s.dtype];
    const n = s.outBytes / es;
    const view = new CTOR[s.dtype](a.buffer, LAYOUT.dataOffset + outOff, n);
    // Results in the caller's own arena array stay put; anything else is copied out.
    let out: TypedArray;
    if (s.input && s.inPlace && a.offsetOf(s.input) >= 0) out = s.input;
    else if (s.output) {
      if (given < 0) (s.output as any).set(view);
      out = s.output;
    } else out = view.slice() as TypedArray;
    return { out, src: r.src, outCount: r.outCount };
  } catch (e) {
    throw OnetError.fromNative(e);
  } finally {
    // A slot still posted (wait failed) stays reserved: the engine may yet write to it.
    if (slot < 0) for (const [off, bytes] of owned) a.release(off, bytes);
  }
}
