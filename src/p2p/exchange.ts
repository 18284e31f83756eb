// The WAN rendezvous's wire (meet.ts): one length-prefixed message and its answer on WAN_PROTOCOL, each on a
// stream of its own. request() sends one (a hello or a ready) and awaits the answer; serve() answers an inbound one.
import type { Connection, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { connectTo } from './connect.js';
import type { MeetOptions } from './meet.js';
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, WAN_PROTOCOL, type WanMsg } from './messages.js';
import type { P2pNode } from './node.js';

/** The most one stream (a request and its answer, or a bootstrap dial) may take. */
export const STREAM_MS = 5000;

/** Send `m` to `peer` and return its answer (`{ bad }` when the answer does not decode). Not yet
 *  connected, it dials `peer` directly and through the `relays` (bootstrap addresses) too: connect.ts. */
export async function request(
  node: P2pNode,
  peer: string,
  m: WanMsg,
  relays: string[] = [],
): Promise<WanMsg | { bad: string }> {
  const signal = AbortSignal.timeout(STREAM_MS);
  const conn = await connectTo(node, peer, relays, signal);
  const stream = await conn.newStream(WAN_PROTOCOL, { signal, runOnLimitedConnection: true });
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES });
    await lp.write(encodeMessage(m), { signal });
    const reply = decodeMessage((await lp.read({ signal })).subarray());
    await stream.close({ signal }).catch(() => {});
    return reply;
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}

/** Read one message from an inbound stream, write `answer`'s reply to it, and close it. */
export async function serve(
  stream: Stream,
  conn: Connection,
  answer: (peer: string, m: WanMsg | { bad: string }) => WanMsg,
  log: MeetOptions['log'],
): Promise<void> {
  const peer = conn.remotePeer.toString();
  const signal = AbortSignal.timeout(STREAM_MS);
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES });
    const got = await lp.read({ signal });
    const reply = answer(peer, decodeMessage(got.subarray()));
    await lp.write(encodeMessage(reply), { signal });
    await stream.close({ signal });
  } catch (e) {
    log('debug', `WAN rendezvous: stream from ${peer} failed: ${(e as Error).message}`);
    stream.abort(e as Error);
  }
}
