// A Node rank's view of its arena: typed-array views on the data region, a first-fit
// allocator (64-byte aligned), and slot read/write at the offsets of docs/protocol.md §3.

import { LAYOUT } from '../bridge/protocol.js';
import { OnetError } from '../errors.js';

const ALIGN = 64;
const S = LAYOUT.slot;

export interface SlotFields {
  seq: bigint;
  coll: number;
  dtype: number;
  redop: number;
  root: number;
  count: bigint;
  inOff: bigint;
  outOff: bigint;
  auxOff: bigint;
  group: number;
  tag: number;
  scale: number;
  flags: number;
}

export class Arena {
  readonly data: Uint8Array;
  private readonly view: DataView;
  private free: Array<[number, number]>; // [offset, bytes], sorted by offset
  private readonly freeSlots: number[] = [];

  constructor(
    readonly buffer: ArrayBuffer,
    readonly dataBytes: number,
  ) {
    this.view = new DataView(buffer);
    this.data = new Uint8Array(buffer, LAYOUT.dataOffset, dataBytes);
    this.free = [[0, dataBytes]];
    for (let i = LAYOUT.slots - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  /** Reserve `bytes` in the data region; returns the offset. Throws EINVAL when it cannot fit. */
  alloc(bytes: number): number {
    const need = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const [off, len] = this.free[i];
      if (len < need) continue;
      if (len === need) this.free.splice(i, 1);
      else this.free[i] = [off + need, len - need];
      return off;
    }
    throw new OnetError(
      'EINVAL',
      `a buffer of ${bytes} bytes does not fit in this rank's arena (${this.dataBytes} bytes, partly in use by ` +
        `pending ops); raise ONET_ARENA_BYTES`,
    );
  }

  release(off: number, bytes: number): void {
    const need = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let i = 0;
    while (i < this.free.length && this.free[i][0] < off) i++;
    this.free.splice(i, 0, [off, need]);
    const merged: Array<[number, number]> = [];
    for (const r of this.free) {
      const last = merged[merged.length - 1];
      if (last && last[0] + last[1] === r[0]) last[1] += r[1];
      else merged.push([r[0], r[1]]);
    }
    this.free = merged;
  }

  /** Offset of `view` in the data region if it lives there, else -1. */
  offsetOf(view: ArrayBufferView): number {
    if (view.buffer !== this.buffer) return -1;
    return view.byteOffset - LAYOUT.dataOffset;
  }

  takeSlot(): number {
    const s = this.freeSlots.pop();
    if (s === undefined)
      throw new OnetError(
        'EINVAL',
        `more than ${LAYOUT.slots} collectives in flight on this rank; await some before posting more`,
      );
    return s;
  }

  writeSlot(i: number, f: SlotFields): void {
    const b = LAYOUT.slotsOffset + i * LAYOUT.slotBytes,
      v = this.view;
    v.setUint32(b + S.status, 0, true);
    v.setBigUint64(b + S.seq, f.seq, true);
    v.setUint32(b + S.coll, f.coll, true);
    v.setUint32(b + S.dtype, f.dtype, true);
    v.setUint32(b + S.redop, f.redop, true);
    v.setInt32(b + S.root, f.root, true);
    v.setBigUint64(b + S.count, f.count, true);
    v.setBigUint64(b + S.inOff, f.inOff, true);
    v.setBigUint64(b + S.outOff, f.outOff, true);
    v.setBigUint64(b + S.auxOff, f.auxOff, true);
    v.setUint32(b + S.group, f.group, true);
    v.setUint32(b + S.tag, f.tag, true);
    v.setFloat64(b + S.scale, f.scale, true);
    v.setUint32(b + S.flags, f.flags, true);
  }

  /** Read the completion of slot i and hand the slot back. */
  finishSlot(i: number): {
    state: number;
    status: number;
    src: number;
    outCount: number;
    msg: string;
    ranks: number[];
  } {
    const b = LAYOUT.slotsOffset + i * LAYOUT.slotBytes,
      v = this.view;
    const state = v.getUint32(b + S.state, true);
    const status = v.getInt32(b + S.status, true);
    const src = v.getInt32(b + S.src, true);
    const outCount = Number(v.getBigUint64(b + S.outCount, true));
    let msg = '';
    const ranks: number[] = [];
    if (state === LAYOUT.state.error) {
      const raw = new Uint8Array(this.buffer, b + LAYOUT.slotMsgOffset, LAYOUT.slotMsgBytes);
      const end = raw.indexOf(0);
      msg = Buffer.from(raw.subarray(0, end < 0 ? raw.length : end)).toString('utf8');
      // The error's rank list (docs/protocol.md §3): data, never read out of msg.
      const n = Math.min(v.getUint32(b + S.nranks, true), LAYOUT.slotMaxRanks);
      for (let k = 0; k < n; k++) ranks.push(v.getInt32(b + LAYOUT.slotRanksOffset + 4 * k, true));
    }
    v.setUint32(b + S.state, LAYOUT.state.free, true);
    this.freeSlots.push(i);
    return { state, status, src, outCount, msg, ranks };
  }
}
