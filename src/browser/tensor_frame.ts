// Tensor frames of the web protocol (spec/web.json, docs/protocol.md §6): one Arrow IPC stream
// holding a record batch of one row, field `tensor` of type fixed_size_list<T>[n] with the
// arrow.fixed_shape_tensor extension metadata and `onet:dtype`; the schema metadata carries
// the JSON of the call or result the tensor belongs to. Both ends use this file: the browser
// client and the coordinator's endpoint (src/web). No Node built-ins: it is bundled for pages.
// The framing (continuation marker, length, flatbuffer Message, body, end-of-stream) is written
// and read here around apache-arrow's own Message encoder and decoder: its general writer and
// reader cost milliseconds per frame, this costs a memcpy of the values.
import {
  type DataType,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Float64,
  Int8,
  Int32,
  Int64,
  MessageHeader,
  Schema,
  Type,
  Uint8,
  Uint16,
} from 'apache-arrow';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';
import { Schema as FbSchema } from 'apache-arrow/fb/schema';
import { BufferRegion, FieldNode, Message, RecordBatch } from 'apache-arrow/ipc/metadata/message';
import { ByteBuffer } from 'flatbuffers';
import type { TypedArray } from '../api/tensor.js';
import { OnetError } from '../errors.js';
import { DTYPE_ARRAY, DTYPES, type DType } from '../gen/enums.js';

export type FrameKind = 'onet:call' | 'onet:result';

/** The Arrow value type each dtype travels as (bf16 as uint16, named by onet:dtype). */
function arrowType(d: DType): DataType {
  switch (d) {
    case 'f32':
      return new Float32();
    case 'f64':
      return new Float64();
    case 'f16':
      return new Float16();
    case 'bf16':
      return new Uint16();
    case 'i8':
      return new Int8();
    case 'u8':
      return new Uint8();
    case 'i32':
      return new Int32();
    case 'i64':
      return new Int64();
  }
}

const CONT = 0xffffffff;
const pad8 = (n: number) => (n + 7) & ~7;

function schemaOf(kind: FrameKind, meta: object, d: DType, n: number): Schema {
  const child = new Field('item', arrowType(d), false);
  const fieldMeta = new Map([
    ['ARROW:extension:name', 'arrow.fixed_shape_tensor'],
    ['ARROW:extension:metadata', JSON.stringify({ shape: [n] })],
    ['onet:dtype', d],
  ]);
  const field = new Field('tensor', new FixedSizeList(n, child), false, fieldMeta);
  return new Schema([field], new Map([[kind, JSON.stringify(meta)]]));
}

/** Encode `values` (n elements of dtype d) with `meta` (the call or result) as one IPC stream. */
export function encodeTensor(kind: FrameKind, meta: object, d: DType, values: TypedArray): Uint8Array {
  const n = values.length;
  const dataBytes = values.byteLength;
  const bodyBytes = pad8(dataBytes);
  const schemaFb = Message.encode(Message.from(schemaOf(kind, meta, d, n)));
  // One row; the list and the values have no validity bitmaps (length-0 buffers): nothing is null.
  const rb = new RecordBatch(
    1,
    [new FieldNode(1, 0), new FieldNode(n, 0)],
    [new BufferRegion(0, 0), new BufferRegion(0, 0), new BufferRegion(0, dataBytes)],
    null,
  );
  const rbFb = Message.encode(Message.from(rb, bodyBytes));
  const s1 = pad8(schemaFb.length),
    s2 = pad8(rbFb.length);
  const out = new Uint8Array(8 + s1 + 8 + s2 + bodyBytes + 8);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, CONT, true);
  dv.setInt32(4, s1, true);
  out.set(schemaFb, 8);
  const p = 8 + s1;
  dv.setUint32(p, CONT, true);
  dv.setInt32(p + 4, s2, true);
  out.set(rbFb, p + 8);
  const body = p + 8 + s2;
  out.set(new Uint8Array(values.buffer, values.byteOffset, dataBytes), body);
  dv.setUint32(body + bodyBytes, CONT, true); // end of stream: marker and a zero length
  return out;
}

export interface DecodedTensor {
  /** The call or result JSON from the schema metadata. */
  meta: Record<string, unknown>;
  dtype: DType;
  /** The values: a view into the frame when it is aligned, else a copy. */
  values: TypedArray;
}

const bad = (why: string): never => {
  throw new OnetError('EINVAL', `malformed tensor frame: ${why}`);
};

/**
 * Vector lengths checked before apache-arrow decodes a Message: its decoder builds one object per
 * element, so a forged length (a flipped byte) would make it allocate until the heap runs out.
 */
function preflight(fb: Uint8Array, what: string): void {
  const m = FbMessage.getRootAsMessage(new ByteBuffer(fb));
  const few = (n: number, max: number, of: string) => {
    if (!(n >= 0 && n <= max)) bad(`the ${what} metadata has ${n} ${of} (at most ${max} expected)`);
  };
  few(m.customMetadataLength(), 16, 'metadata entries');
  if (m.headerType() === MessageHeader.Schema) {
    const s = m.header(new FbSchema()) as FbSchema | null;
    if (!s) return bad(`the ${what} message has no schema`);
    few(s.fieldsLength(), 1, 'fields');
    few(s.customMetadataLength(), 16, 'schema metadata entries');
    few(s.featuresLength(), 8, 'features');
    const f = s.fields(0);
    if (!f) return bad('the schema has no field');
    few(f.childrenLength(), 1, 'children of the tensor field');
    few(f.customMetadataLength(), 16, 'field metadata entries');
    const c = f.children(0);
    if (c) {
      few(c.childrenLength(), 0, 'children of the values field');
      few(c.customMetadataLength(), 16, 'values field metadata entries');
    }
  } else if (m.headerType() === MessageHeader.RecordBatch) {
    const r = m.header(new FbRecordBatch()) as FbRecordBatch | null;
    if (!r) return bad(`the ${what} message has no record batch`);
    few(r.nodesLength(), 2, 'field nodes');
    few(r.buffersLength(), 3, 'buffers');
    few(r.variadicBufferCountsLength(), 0, 'variadic buffer counts');
  }
}

/** One encapsulated IPC message at `pos`: its decoded metadata and where its body starts and ends. */
function readMessage(bytes: Uint8Array, pos: number, what: string): { msg: Message; body: number; end: number } {
  if (bytes.length < pos + 8) return bad(`it ends before the ${what} message (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + pos, 8);
  if (dv.getUint32(0, true) !== CONT) return bad(`no continuation marker at byte ${pos} (${what})`);
  const len = dv.getInt32(4, true);
  if (len <= 0 || pos + 8 + len > bytes.length)
    return bad(`the ${what} message claims ${len} bytes of metadata but ${bytes.length - pos - 8} remain (truncated?)`);
  let msg: Message;
  try {
    const fb = bytes.subarray(pos + 8, pos + 8 + len);
    preflight(fb, what);
    msg = Message.decode(fb);
  } catch (e) {
    if (e instanceof OnetError) throw e;
    return bad(`the ${what} metadata is not an Arrow Message (${(e as Error).message})`);
  }
  const body = pos + 8 + len;
  const bodyLength = Number(msg.bodyLength);
  if (!Number.isSafeInteger(bodyLength) || bodyLength < 0 || body + bodyLength > bytes.length)
    return bad(`the ${what} body of ${msg.bodyLength} bytes runs past the frame's end (truncated?)`);
  return { msg, body, end: body + bodyLength };
}

function headerOf<T>(m: Message, type: MessageHeader, what: string): T {
  if (m.headerType !== type) return bad(`want a ${what} message, got header type ${m.headerType}`);
  try {
    return m.header() as T;
  } catch (e) {
    return bad(`its ${what} metadata does not decode (${(e as Error).message})`);
  }
}

/**
 * Decode and check a tensor frame: a schema of one field `tensor` of fixed_size_list<T>[n] whose
 * shape metadata, onet:dtype and element type agree, then one record batch of one row.
 */
export function decodeTensor(kind: FrameKind, bytes: Uint8Array): DecodedTensor {
  const first = readMessage(bytes, 0, 'schema');
  const schema = headerOf<Schema>(first.msg, MessageHeader.Schema, 'schema');
  const second = readMessage(bytes, first.end, 'record batch');
  const rb = headerOf<RecordBatch>(second.msg, MessageHeader.RecordBatch, 'record batch');
  const rest = bytes.length - second.end;
  if (rest !== 0 && rest !== 8 && rest !== 4) bad(`${rest} bytes follow the record batch (want end of stream)`);
  const metaText = schema.metadata?.get(kind);
  if (metaText === undefined) return bad(`the schema has no ${kind} metadata`);
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(metaText);
  } catch {
    return bad(`${kind} metadata is not JSON`);
  }
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) return bad(`${kind} metadata is not a JSON object`);
  const fields = schema.fields ?? [];
  if (fields.length !== 1 || fields[0]?.name !== 'tensor')
    return bad(`want one field named "tensor", got [${fields.map((f) => f?.name).join(', ')}]`);
  const field = fields[0];
  const d = field.metadata.get('onet:dtype') as DType | undefined;
  if (!d || !DTYPES.includes(d)) return bad(`field metadata onet:dtype ${JSON.stringify(d)} is not a dtype`);
  if (field.metadata.get('ARROW:extension:name') !== 'arrow.fixed_shape_tensor')
    return bad('the field is not an arrow.fixed_shape_tensor');
  if (field.type?.typeId !== Type.FixedSizeList) return bad(`the field is ${field.type}, not a fixed_size_list`);
  const list = field.type as FixedSizeList;
  let shape: unknown;
  try {
    shape = JSON.parse(field.metadata.get('ARROW:extension:metadata') ?? '');
  } catch {
    return bad('its extension metadata is not JSON');
  }
  const dims = (shape as { shape?: unknown })?.shape;
  if (!Array.isArray(dims) || !dims.every((x) => Number.isInteger(x) && x >= 0))
    return bad('its extension metadata has no shape of non-negative integers');
  const n = dims.reduce((a: number, b: number) => a * b, 1);
  if (n !== list.listSize)
    return bad(`shape ${JSON.stringify(dims)} holds ${n} elements but the list has ${list.listSize}`);
  const vt = list.children?.[0]?.type;
  if (!vt || String(vt) !== String(arrowType(d))) return bad(`values are ${vt} but onet:dtype says ${d}`);
  if (rb.compression) return bad('compressed bodies are not accepted');
  const nodes = rb.nodes ?? [];
  const bufs = rb.buffers ?? [];
  if (Number(rb.length) !== 1 || nodes.length !== 2 || Number(nodes[0].length) !== 1 || Number(nodes[1].length) !== n)
    return bad(
      `want one row of ${n} values, got ${rb.length} row(s) with nodes ` +
        JSON.stringify(nodes.map((x) => Number(x.length))),
    );
  if (Number(nodes[0].nullCount) || Number(nodes[1].nullCount)) return bad('the tensor holds nulls');
  if (bufs.length !== 3) return bad(`want 3 buffers (list validity, values validity, values), got ${bufs.length}`);
  const Ctor = DTYPE_ARRAY[d] as unknown as {
    new (b: ArrayBufferLike, o: number, n: number): TypedArray;
    BYTES_PER_ELEMENT: number;
  };
  const need = n * Ctor.BYTES_PER_ELEMENT;
  const off = Number(bufs[2].offset),
    len = Number(bufs[2].length);
  if (!(off >= 0) || len < need || second.body + off + need > second.end)
    return bad(
      `the values buffer (${len} bytes at ${off}) does not hold ${n} × ${d} ` +
        `in a ${second.end - second.body}-byte body (truncated?)`,
    );
  const at = bytes.byteOffset + second.body + off;
  const values =
    at % Ctor.BYTES_PER_ELEMENT === 0
      ? new Ctor(bytes.buffer, at, n)
      : new Ctor(bytes.slice(second.body + off, second.body + off + need).buffer, 0, n);
  return { meta, dtype: d, values };
}
