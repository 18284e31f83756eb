// WebComm: a browser or Pyodide rank's communicator. Every collective is one call frame to the
// coordinator (a tensor frame when it has input, else JSON) and one result frame back; the
// coordinator runs it on this rank's arena slot like any local rank's (src/web/session.ts).
import { asTyped, dtypeOf, type TensorLike, type TypedArray } from '../api/tensor.js';
import { OnetError } from '../errors.js';
import { DTYPE_ARRAY, type DType, REDOPS, type RedOp } from '../gen/enums.js';
import { WEB, type WebColl } from '../gen/web.js';
import { decodeTensor, encodeTensor } from './tensor_frame.js';

export interface WebReduceOptions {
  op?: RedOp;
  dtype?: DType;
}
export interface WebRootOptions {
  root: number;
  dtype?: DType;
}
export interface WebPeerOptions {
  peer: number;
  tag?: number;
  dtype?: DType;
}

interface Pending {
  resolve: (v: TypedArray | undefined) => void;
  reject: (e: OnetError) => void;
  dtype: DType;
}

/** What the coordinator said at registration. */
export interface Registered {
  job: string;
  rank: number;
  world: number;
  maxFrameBytes: number;
  heartbeatMs: number;
}

export class WebComm {
  readonly rank: number;
  readonly world: number;
  readonly job: string;
  /** 'browser' or 'pyodide': what the dashboard lists this rank as. */
  readonly kind: string;
  /** Source rank of the last completed recv. */
  lastSrc = -1;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure?: OnetError;
  private readonly maxFrameBytes: number;

  /** @internal Made by join(). */
  constructor(
    private readonly ws: WebSocket,
    reg: Registered,
    kind: string,
  ) {
    this.rank = reg.rank;
    this.world = reg.world;
    this.job = reg.job;
    this.kind = kind;
    this.maxFrameBytes = reg.maxFrameBytes;
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => this.onClose(ev.code, ev.reason);
  }

  async allreduce(data: TensorLike, o: WebReduceOptions = {}): Promise<TypedArray> {
    return (await this.call('allreduce', data, o.dtype, { op: this.op(o.op) })) as TypedArray;
  }
  /** Every rank's data concatenated in rank order (world × n elements). */
  async allgather(data: TensorLike, o: { dtype?: DType } = {}): Promise<TypedArray> {
    return (await this.call('allgather', data, o.dtype, {})) as TypedArray;
  }
  async broadcast(data: TensorLike, o: WebRootOptions): Promise<TypedArray> {
    return (await this.call('broadcast', data, o?.dtype, { root: this.root(o?.root) })) as TypedArray;
  }
  /** data holds world blocks; rank r gets the reduction of every rank's block r. */
  async reduceScatter(data: TensorLike, o: WebReduceOptions = {}): Promise<TypedArray> {
    const t = asTyped(data);
    this.blocks('reduceScatter', t.length);
    return (await this.call('reduce_scatter', t, o.dtype, { op: this.op(o.op) })) as TypedArray;
  }
  /** Block j of data goes to rank j; block j of the result came from rank j. */
  async alltoall(data: TensorLike, o: { dtype?: DType } = {}): Promise<TypedArray> {
    const t = asTyped(data);
    this.blocks('alltoall', t.length);
    return (await this.call('alltoall', t, o.dtype, {})) as TypedArray;
  }
  async barrier(): Promise<void> {
    await this.call('barrier', new Uint8Array(0), 'u8', {});
  }
  async send(data: TensorLike, o: WebPeerOptions): Promise<void> {
    await this.call('send', data, o?.dtype, { peer: this.peer(o?.peer, false), tag: o?.tag ?? 0 });
  }
  /** Receive up to data.length elements from peer (-1: anyone); resolves to what arrived. */
  async recv(data: TensorLike, o: WebPeerOptions): Promise<TypedArray> {
    const t = asTyped(data);
    return (await this.call('recv', t, o?.dtype, {
      peer: this.peer(o?.peer, true),
      tag: o?.tag ?? 0,
    })) as TypedArray;
  }

  /** Leave the job; other ranks' collectives that need this one fail. */
  async close(): Promise<void> {
    if (this.failure) return;
    this.failure = new OnetError('ECLOSED', `rank ${this.rank}'s communicator is closed`, [this.rank]);
    try {
      this.ws.send(JSON.stringify({ v: WEB.version, type: 'close' }));
    } catch {
      /* already gone */
    }
    this.ws.close(WEB.closeCodes.normal, 'closed by the rank');
    this.failAll(this.failure);
  }

  // ---- internals -----------------------------------------------------------------------

  private call(coll: WebColl, data: TensorLike, dt: DType | undefined, extra: object): Promise<TypedArray | undefined> {
    try {
      if (this.failure) throw this.failure;
      const t = asTyped(data);
      const dtype = dtypeOf(t, dt);
      const id = this.nextId++;
      const meta = { v: WEB.version, type: 'call', id, job: this.job, coll, dtype, count: t.length, ...extra };
      const withData = coll !== 'barrier' && coll !== 'recv';
      const frame = withData ? encodeTensor('onet:call', meta, dtype, t) : JSON.stringify(meta);
      const bytes = typeof frame === 'string' ? frame.length : frame.byteLength;
      if (bytes > this.maxFrameBytes)
        throw new OnetError(
          'EINVAL',
          `${coll} of ${t.length} ${dtype} elements makes a ${bytes}-byte frame, over the coordinator's ` +
            `limit of ${this.maxFrameBytes} (ONET_WEB_MAX_FRAME_BYTES)`,
          [this.rank],
        );
      const p = new Promise<TypedArray | undefined>((resolve, reject) =>
        this.pending.set(id, { resolve, reject, dtype }),
      );
      this.ws.send(frame);
      return p;
    } catch (e) {
      return Promise.reject(OnetError.fromNative(e));
    }
  }

  private onMessage(data: unknown): void {
    try {
      if (typeof data === 'string') return this.onText(JSON.parse(data));
      const bytes =
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : ArrayBuffer.isView(data)
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : undefined;
      if (!bytes) throw new OnetError('EPROTO', 'a binary frame arrived as a Blob; set binaryType = "arraybuffer"');
      const r = decodeTensor('onet:result', bytes);
      const p = this.take(r.meta.id);
      if (typeof r.meta.src === 'number') this.lastSrc = r.meta.src;
      if (p) p.resolve(r.values);
    } catch (e) {
      this.failAll(OnetError.fromNative(e));
    }
  }

  private onText(m: Record<string, any>): void {
    if (m.type === 'result') {
      const p = this.take(m.id);
      if (typeof m.src === 'number') this.lastSrc = m.src;
      const Ctor = p && (DTYPE_ARRAY[p.dtype] as unknown as new (n: number) => TypedArray);
      p?.resolve(Ctor && new Ctor(0));
    } else if (m.type === 'error') {
      const err = OnetError.fromFields(m);
      const p = m.id !== undefined ? this.take(m.id) : undefined;
      if (p) p.reject(err);
      else this.failAll(err); // about no call in particular: every waiting call learns it
    }
  }

  private take(id: unknown): Pending | undefined {
    const p = this.pending.get(id as number);
    this.pending.delete(id as number);
    return p;
  }

  private onClose(code: number, reason: string): void {
    if (!this.failure) {
      const why = reason || `code ${code}`;
      this.failure =
        code === WEB.closeCodes.tooBig
          ? new OnetError('EINVAL', `the coordinator refused a frame over its size limit and closed: ${why}`, [
              this.rank,
            ])
          : new OnetError('EABORTED', `the connection to the coordinator closed (${why})`, [this.rank]);
    }
    this.failAll(this.failure);
  }

  private failAll(e: OnetError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
  }

  private op(op: RedOp = 'sum'): RedOp {
    if (!REDOPS.includes(op))
      throw new OnetError('EINVAL', `unknown reduce op ${JSON.stringify(op)}; use one of ${REDOPS.join(', ')}`, [
        this.rank,
      ]);
    return op;
  }
  private root(root = 0): number {
    if (!Number.isInteger(root) || root < 0 || root >= this.world)
      throw new OnetError('EINVAL', `root ${root} is out of range for world size ${this.world}`, [this.rank]);
    return root;
  }
  private peer(peer: number, anyOk: boolean): number {
    if (!Number.isInteger(peer) || peer < (anyOk ? -1 : 0) || peer >= this.world || peer === this.rank)
      throw new OnetError('EINVAL', `peer ${peer} is not another rank of world size ${this.world}`, [this.rank]);
    return peer;
  }
  private blocks(what: string, n: number): void {
    if (n % this.world)
      throw new OnetError('EINVAL', `${what}: ${n} elements do not split into ${this.world} equal blocks`, [this.rank]);
  }
}
