// Point-to-point behind Comm.send/recv (src/api/comm.ts). A send is matched FIFO with the
// peer's recv of the same tag; both post with seq 0, so they take no collective sequence number.
import type { DType } from '../bridge/protocol.js';
import { checkPeer } from './comm_checks.js';
import type { Runner } from './comm_collectives.js';
import { asTyped, dtypeOf, type TensorLike, type TypedArray } from './tensor.js';

export interface P2POptions {
  tag?: number;
  dtype?: DType;
}

export async function send(c: Runner, x: TensorLike, peer: number, o: P2POptions): Promise<void> {
  const t = asTyped(x);
  checkPeer(c, peer, false);
  await c.run({
    coll: 'send',
    dtype: dtypeOf(t, o.dtype),
    count: t.length,
    root: peer,
    tag: o.tag ?? 0,
    input: t,
    inBytes: t.byteLength,
    outBytes: 0,
    seq: 0n,
  });
}

export async function recv(
  c: Runner,
  x: TensorLike,
  peer: number,
  o: P2POptions,
): Promise<{ data: TypedArray; src: number }> {
  const t = asTyped(x);
  checkPeer(c, peer, true);
  const d = await c.run({
    coll: 'recv',
    dtype: dtypeOf(t, o.dtype),
    count: t.length,
    root: peer,
    tag: o.tag ?? 0,
    inBytes: 0,
    outBytes: t.byteLength,
    seq: 0n,
  });
  const got = d.out.subarray(0, d.outCount) as TypedArray;
  if (ArrayBuffer.isView(x)) (t as any).set(got);
  return { data: got, src: d.src };
}
