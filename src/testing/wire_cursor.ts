// Where the payload bytes are in one direction of a TCP transport connection, so the fault proxy
// (fault_proxy.ts) can corrupt exactly what CRC32C covers, a data frame's payload, and leave the
// framing intact: a corrupt header is a different failure (the stream is unusable from there on,
// so the pair fails with EABORTED) that the proxy injects only when asked to corrupt anywhere.
// Byte layouts: native/transport/tcp/frame.h (docs/transport.md has the tables); little-endian.
export const HELLO_BYTES = 32;
export const FRAME_HEADER_BYTES = 56;
const MAC_BYTES = 16; // AES-GCM tag after the header of a sealed (encrypted) frame
const HELLO_MAGIC = 0x31484e4f; // "ONH1"
const FRAME_MAGIC = 0x31464e4f; // "ONF1"
const KIND_DATA = 1;
const FLAG_SEALED = 2;

export interface HelloInfo {
  kind: number;
  rank: number;
  stream: number;
  streams: number;
  reasonLen: number;
}

/** The fields of a transport hello the proxy needs (who dials, which stream), or undefined. */
export function parseHello(b: Buffer): HelloInfo | undefined {
  if (b.length < HELLO_BYTES || b.readUInt32LE(0) !== HELLO_MAGIC) return undefined;
  return {
    kind: b[6],
    rank: b.readInt32LE(12),
    stream: b.readUInt16LE(20),
    streams: b.readUInt16LE(22),
    reasonLen: b.readUInt32LE(24),
  };
}

/**
 * Follows one direction's bytes: a hello (plus its reason text on a reject), then frames. For
 * every run of payload bytes inside a chunk it calls onPayload with the frame's number (data frames
 * with a payload, from 0) and the run's [from, to) in the chunk; for every run of frame-header
 * bytes, onHeader with the header's number (every frame, heartbeats too, from 0). Bytes it cannot
 * follow (no hello magic, a header without the frame magic: TLS records, another protocol) make it
 * `lost`.
 */
export class WireCursor {
  lost = false;
  frames = 0;
  headers = 0;
  /** The tag of the frame whose header was read last (its message's tag). */
  tag = 0n;
  private head = Buffer.alloc(FRAME_HEADER_BYTES + MAC_BYTES);
  private got = 0;
  private need = HELLO_BYTES;
  private inHello = true;
  private skip = 0; // reject reason text still to pass
  private payloadLeft = 0;
  private frame = -1; // number of the data frame whose payload is passing, -1: none counted

  scan(
    chunk: Buffer,
    onPayload: (frame: number, from: number, to: number) => void,
    onHeader?: (header: number, from: number, to: number) => void,
  ): void {
    let i = 0;
    while (i < chunk.length && !this.lost) {
      if (this.skip) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
      } else if (this.payloadLeft) {
        const n = Math.min(this.payloadLeft, chunk.length - i);
        if (this.frame >= 0) onPayload(this.frame, i, i + n);
        this.payloadLeft -= n;
        i += n;
      } else {
        const n = Math.min(this.need - this.got, chunk.length - i);
        if (!this.inHello) onHeader?.(this.headers, i, i + n);
        chunk.copy(this.head, this.got, i, i + n);
        this.got += n;
        i += n;
        if (this.got === this.need) this.headDone();
      }
    }
  }

  private headDone(): void {
    const h = this.head;
    if (this.inHello) {
      const hello = parseHello(h);
      if (!hello) {
        this.lost = true;
        return;
      }
      this.inHello = false;
      this.skip = hello.reasonLen;
      this.got = 0;
      this.need = FRAME_HEADER_BYTES;
      return;
    }
    if (h.readUInt32LE(0) !== FRAME_MAGIC) {
      this.lost = true;
      return;
    }
    const sealed = (h[5] & FLAG_SEALED) !== 0;
    if (sealed && this.need === FRAME_HEADER_BYTES) {
      this.need += MAC_BYTES;
      return;
    } // the tag follows
    const length = h.readUInt32LE(12);
    this.tag = h.readBigUInt64LE(16);
    this.headers++;
    this.got = 0;
    this.need = FRAME_HEADER_BYTES;
    this.payloadLeft = length;
    this.frame = h[4] === KIND_DATA && length > 0 ? this.frames++ : -1;
  }
}
