// The Node rank API: `const comm = await init(); await comm.allreduce(x, { op: 'sum' })`.
// Every collective goes through run(): place inputs in the arena (zero-copy when the array
// was made by comm.alloc), post a slot, spin briefly, then wait off the JS thread.

import type { Table } from 'apache-arrow';
import { COLL, type Coll, DTYPE_SIZE, DTYPES, type DType, LAYOUT, REDOPS, type RedOp } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { jobId, jobPaths } from '../coordinator/paths.js';
import { OnetError } from '../errors.js';
import { native } from '../native/addon.js';
import { clientAuth } from '../security/auth.js';
import { Arena } from './arena.js';
import { Control, coordinatorRunning, startCoordinator } from './control.js';
import { type RankEnv, rankEnv } from './env.js';
import { type AllgatherTableOptions, allgatherTable } from './table.js';
import { asTyped, CTOR, dtypeOf, type TensorLike, type TypedArray } from './tensor.js';

export interface InitOptions extends Partial<RankEnv> {
  job?: string;
  env?: NodeJS.ProcessEnv;
  framework?: string;
}
export interface ReduceOptions {
  op?: RedOp;
  dtype?: DType;
  scale?: number;
  out?: TypedArray;
}
export interface RootOptions {
  root?: number;
  dtype?: DType;
  out?: TypedArray;
}

interface Spec {
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
}
interface Done {
  out: TypedArray;
  src: number;
  outCount: number;
}

export class Comm {
  readonly rank: number;
  readonly world: number;
  readonly localRank: number;
  readonly job: string;
  /** The global ranks of this communicator's members (0..world-1 for the job's own). */
  readonly members: number[];
  private seq = 0n;
  private closed = false;
  private shrinks = 0;
  private readonly group: number;
  private readonly spinUs: number;
  private readonly timeoutMs: number;

  private constructor(
    env: RankEnv,
    job: string,
    private readonly control: Control,
    private readonly arena: Arena,
    private readonly ctl: ArrayBuffer,
    private readonly envVars: NodeJS.ProcessEnv,
    sub?: { group: number; members: number[] },
  ) {
    this.group = sub?.group ?? 0;
    this.members = sub?.members ?? [...Array(env.world).keys()];
    this.rank = this.members.indexOf(env.rank);
    this.world = this.members.length;
    this.localRank = env.localRank;
    this.job = job;
    this.spinUs = setting('spinUs', envVars);
    this.timeoutMs = (setting('timeoutS', envVars) as number) * 1000 + 5000;
  }

  /** Register with this host's coordinator (starting it from local rank 0 if none runs). */
  static async init(opts: InitOptions = {}): Promise<Comm> {
    const envVars = opts.env ?? process.env;
    const env = rankEnv(envVars, opts);
    const job = opts.job ?? jobId(envVars);
    const paths = jobPaths(job, envVars);
    if (env.localRank === 0 && !coordinatorRunning(job, envVars)) startCoordinator(job, env.world, envVars);
    const control = new Control(paths.endpoint);
    const connectMs = (setting('connectTimeoutS', envVars) as number) * 1000;
    try {
      const reg = await control.request(
        {
          type: 'register',
          job,
          rank: env.rank,
          world: env.world,
          localRank: env.localRank,
          localWorld: env.localWorld,
          pid: process.pid,
          framework: opts.framework ?? 'node',
          ...clientAuth(envVars, ['register', job, env.rank, process.pid], ['rank']),
          // Across hosts the coordinator answers once it has met the others (bootstrap + mesh).
        },
        env.localWorld < env.world ? 3 * connectMs : connectMs,
      );
      const buffer = native.mapSegment(reg.arena);
      const ctl = native.mapSegment(reg.ctl);
      await control.request({ type: 'mapped' }, connectMs);
      return new Comm(env, job, control, new Arena(buffer, reg.dataBytes), ctl, envVars);
    } catch (e) {
      control.close();
      const err = OnetError.fromNative(e);
      if (err.code === 'ETIMEDOUT')
        err.message += ` — is a coordinator running for job ${job}? Local rank 0 starts one; see ${paths.log}`;
      throw err;
    }
  }

  /** A typed array living in this rank's shared arena: collectives on it copy nothing. */
  alloc(count: number, dtype: DType = 'f32'): TypedArray {
    if (!DTYPES.includes(dtype))
      throw new OnetError('EINVAL', `unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPES.join(', ')}`);
    const off = this.arena.alloc(count * DTYPE_SIZE[dtype]);
    return new CTOR[dtype](this.arena.buffer, LAYOUT.dataOffset + off, count);
  }
  /** Give back an array from alloc(). */
  free(x: TypedArray): void {
    const off = this.arena.offsetOf(x);
    if (off < 0) throw new OnetError('EINVAL', 'free() takes arrays made by comm.alloc()');
    this.arena.release(off, x.byteLength);
  }

  // ---- collectives -------------------------------------------------------------------

  /** Reduce x across ranks in place; returns x. */
  async allreduce<T extends TensorLike>(x: T, o: ReduceOptions = {}): Promise<T> {
    const t = asTyped(x);
    const out = this.checkOut(o.out, t);
    const d = await this.run({
      coll: 'allreduce',
      dtype: dtypeOf(t, o.dtype),
      count: t.length,
      redop: o.op,
      scale: o.scale,
      input: t,
      output: out,
      inBytes: t.byteLength,
      outBytes: t.byteLength,
      inPlace: !out,
    });
    return (out ? d.out : this.into(t, d, x)) as T;
  }

  /** Reduce x onto root (in place there); other ranks' x is unchanged. */
  async reduce<T extends TensorLike>(x: T, o: ReduceOptions & RootOptions = {}): Promise<T> {
    const t = asTyped(x);
    const root = this.checkRoot(o.root);
    const out = this.checkOut(o.out, t);
    const d = await this.run({
      coll: 'reduce',
      dtype: dtypeOf(t, o.dtype),
      count: t.length,
      redop: o.op,
      scale: o.scale,
      root,
      input: t,
      output: out,
      inBytes: t.byteLength,
      outBytes: t.byteLength,
      inPlace: !out,
    });
    if (this.rank !== root) return x;
    return (out ? d.out : this.into(t, d, x)) as T;
  }

  /** Root's x overwrites every rank's x; returns x. */
  async broadcast<T extends TensorLike>(x: T, o: RootOptions = {}): Promise<T> {
    const t = asTyped(x);
    const out = this.checkOut(o.out, t);
    const d = await this.run({
      coll: 'broadcast',
      dtype: dtypeOf(t, o.dtype),
      count: t.length,
      root: this.checkRoot(o.root),
      input: t,
      output: out,
      inBytes: t.byteLength,
      outBytes: t.byteLength,
      inPlace: !out,
    });
    return (out ? d.out : this.into(t, d, x)) as T;
  }

  /** Concatenation of every rank's x, rank-major. */
  async allgather(x: TensorLike, o: { dtype?: DType; out?: TypedArray } = {}): Promise<TypedArray> {
    const t = asTyped(x);
    const out = this.checkOut(o.out, t, t.length * this.world);
    return (
      await this.run({
        coll: 'allgather',
        dtype: dtypeOf(t, o.dtype),
        count: t.length,
        input: t,
        output: out,
        inBytes: t.byteLength,
        outBytes: t.byteLength * this.world,
      })
    ).out;
  }

  /** allgather with per-rank lengths: `counts[r]` elements from rank r. */
  async allgatherv(x: TensorLike, o: { counts: number[]; dtype?: DType }): Promise<TypedArray> {
    const t = asTyped(x);
    const counts = this.checkCounts(o?.counts, 'counts');
    const total = counts.reduce((a, b) => a + b, 0);
    return (
      await this.run({
        coll: 'allgatherv',
        dtype: dtypeOf(t, o.dtype),
        count: t.length,
        input: t,
        inBytes: t.byteLength,
        outBytes: total * t.BYTES_PER_ELEMENT,
        aux: BigUint64Array.from(counts.map(BigInt)),
      })
    ).out;
  }

  /** x holds world blocks; rank r gets the reduction of every rank's block r. */
  async reduceScatter(x: TensorLike, o: ReduceOptions = {}): Promise<TypedArray> {
    const t = asTyped(x);
    if (t.length % this.world)
      throw new OnetError(
        'EINVAL',
        `reduceScatter: ${t.length} elements do not split into ${this.world} equal blocks; use reduceScatterv`,
        [this.rank],
      );
    const n = t.length / this.world;
    const out = this.checkOut(o.out, t, n);
    return (
      await this.run({
        coll: 'reduce_scatter',
        dtype: dtypeOf(t, o.dtype),
        count: n,
        redop: o.op,
        scale: o.scale,
        input: t,
        output: out,
        inBytes: t.byteLength,
        outBytes: n * t.BYTES_PER_ELEMENT,
      })
    ).out;
  }

  /** reduce_scatter with block r of `counts[r]` elements. */
  async reduceScatterv(x: TensorLike, o: ReduceOptions & { counts: number[] }): Promise<TypedArray> {
    const t = asTyped(x);
    const counts = this.checkCounts(o?.counts, 'counts');
    const total = counts.reduce((a, b) => a + b, 0);
    if (total !== t.length)
      throw new OnetError('EINVAL', `reduceScatterv: counts add up to ${total} but x has ${t.length} elements`, [
        this.rank,
      ]);
    return (
      await this.run({
        coll: 'reduce_scatterv',
        dtype: dtypeOf(t, o.dtype),
        count: counts[this.rank],
        redop: o.op,
        scale: o.scale,
        input: t,
        inBytes: t.byteLength,
        outBytes: counts[this.rank] * t.BYTES_PER_ELEMENT,
        aux: BigUint64Array.from(counts.map(BigInt)),
      })
    ).out;
  }

  /** Block j of x goes to rank j; block j of the result came from rank j. */
  async alltoall(x: TensorLike, o: { dtype?: DType; out?: TypedArray } = {}): Promise<TypedArray> {
    const t = asTyped(x);
    const out = this.checkOut(o.out, t);
    if (t.length % this.world)
      throw new OnetError(
        'EINVAL',
        `alltoall: ${t.length} elements do not split into ${this.world} equal blocks; use alltoallv`,
        [this.rank],
      );
    return (
      await this.run({
        coll: 'alltoall',
        dtype: dtypeOf(t, o.dtype),
        count: t.length / this.world,
        input: t,
        output: out,
        inBytes: t.byteLength,
        outBytes: t.byteLength,
      })
    ).out;
  }

  /** alltoall with `sendCounts[j]` elements to rank j and `recvCounts[j]` from it (packed in rank order). */
  async alltoallv(
    x: TensorLike,
    o: { sendCounts: number[]; recvCounts: number[]; dtype?: DType },
  ): Promise<TypedArray> {
    const t = asTyped(x);
    const sc = this.checkCounts(o?.sendCounts, 'sendCounts'),
      rc = this.checkCounts(o?.recvCounts, 'recvCounts');
    const displs = (c: number[]) => c.map((_, i) => c.slice(0, i).reduce((a, b) => a + b, 0));
    const sTotal = sc.reduce((a, b) => a + b, 0),
      rTotal = rc.reduce((a, b) => a + b, 0);
    if (sTotal > t.length)
      throw new OnetError('EINVAL', `alltoallv: sendCounts add up to ${sTotal} but x has ${t.length} elements`, [
        this.rank,
      ]);
    const aux = BigUint64Array.from([...sc, ...displs(sc), ...rc, ...displs(rc)].map(BigInt));
    return (
      await this.run({
        coll: 'alltoallv',
        dtype: dtypeOf(t, o.dtype),
        count: 0,
        input: t,
        inBytes: t.byteLength,
        outBytes: rTotal * t.BYTES_PER_ELEMENT,
        aux,
      })
    ).out;
  }

  /** Every rank's x, concatenated at root; null elsewhere. */
  async gather(x: TensorLike, o: RootOptions = {}): Promise<TypedArray | null> {
    const t = asTyped(x);
    const root = this.checkRoot(o.root);
    const d = await this.run({
      coll: 'gather',
      dtype: dtypeOf(t, o.dtype),
      count: t.length,
      root,
      input: t,
      inBytes: t.byteLength,
      outBytes: this.rank === root ? t.byteLength * this.world : 0,
    });
    return this.rank === root ? d.out : null;
  }

  /** Root's x (world·count elements) split into blocks; rank r gets block r. */
  async scatter(x: TensorLike | null, o: RootOptions & { count: number; dtype?: DType }): Promise<TypedArray> {
    const root = this.checkRoot(o?.root);
    const count = o?.count;
    if (!Number.isInteger(count) || count < 0)
      throw new OnetError('EINVAL', 'scatter needs { count }: the elements each rank receives', [this.rank]);
    let t: TypedArray;
    if (this.rank === root) {
      if (x == null) throw new OnetError('EINVAL', 'scatter: the root must pass the array to scatter', [this.rank]);
      t = asTyped(x);
      if (t.length !== count * this.world)
        throw new OnetError(
          'EINVAL',
          `scatter: root passed ${t.length} elements, expected count × world = ${count * this.world}`,
          [this.rank],
        );
    } else {
      const dtype = o.dtype ?? (x != null ? dtypeOf(asTyped(x)) : 'f32');
      t = new CTOR[dtype](new ArrayBuffer(0), 0, 0);
    }
    const dtype = dtypeOf(t, o.dtype);
    return (
      await this.run({
        coll: 'scatter',
        dtype,
        count,
        root,
        input: t,
        inBytes: t.byteLength,
        outBytes: count * DTYPE_SIZE[dtype],
      })
    ).out;
  }

  /**
   * Every rank's apache-arrow Table concatenated in rank order (rank 0's rows first). The
   * schemas must match — field names, types and nullability — or every rank gets an
   * EMISMATCH OnetError naming the ranks and the differing fields. Moves Arrow IPC streams
   * with allgather + allgatherv (src/api/table.ts).
   */
  allgatherTable(table: Table, o: AllgatherTableOptions = {}): Promise<Table> {
    return allgatherTable(this, table, o);
  }

  async barrier(): Promise<void> {
    await this.run({ coll: 'barrier', dtype: 'u8', count: 0, inBytes: 0, outBytes: 0 });
  }

  /** Send x to rank `peer` (matched FIFO with its recv of the same tag). */
  async send(x: TensorLike, peer: number, o: { tag?: number; dtype?: DType } = {}): Promise<void> {
    const t = asTyped(x);
    this.checkPeer(peer, false);
    await this.run({
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

  /** Receive into x (its length is the capacity) from `peer`, or from anyone with -1. */
  async recv<T extends TensorLike>(
    x: T,
    peer = -1,
    o: { tag?: number; dtype?: DType } = {},
  ): Promise<{ data: TypedArray; src: number }> {
    const t = asTyped(x);
    this.checkPeer(peer, true);
    const d = await this.run({
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

  /**
   * Recovery after a failure: a new communicator over the survivors of this one. Every
   * surviving rank calls shrink() with the same list (ranks of *this* communicator to drop);
   * without one, the ranks the local coordinator saw die or close are dropped (one host only).
   * Ranks are renumbered 0..survivors-1 in the old order; this communicator stays usable for
   * nothing that needs the dropped ranks.
   */
  async shrink(ranksToDrop?: number[]): Promise<Comm> {
    if (this.closed) throw new OnetError('ECLOSED', 'shrink() on a closed communicator', [this.rank]);
    let drop = ranksToDrop;
    if (drop === undefined) {
      const st = await this.control.request({ type: 'status' }, 5000);
      const gone = new Set<number>(st.ranks.filter((r: any) => r.state !== 'live').map((r: any) => r.rank));
      drop = this.members.flatMap((g, i) => (gone.has(g) ? [i] : []));
    }
    if (!Array.isArray(drop) || drop.some((r) => !Number.isInteger(r) || r < 0 || r >= this.world))
      throw new OnetError(
        'EINVAL',
        `shrink(): ranksToDrop must list ranks of this communicator (0..${this.world - 1}), got ${JSON.stringify(ranksToDrop)}`,
        [this.rank],
      );
    if (drop.includes(this.rank))
      throw new OnetError(
        'EINVAL',
        `shrink(): rank ${this.rank} is asked to drop itself; only survivors call shrink()`,
        [this.rank],
      );
    const members = this.members.filter((_, i) => !drop!.includes(i));
    // Every survivor derives the same id from the parent, its shrink count and the survivors.
    const key = `${this.group}/${this.shrinks++}/${members.join(',')}`;
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
    const group = 0x40000000 | (h & 0x3fffffff);
    await this.control.request(
      { type: 'group', group, ranks: members },
      (setting('connectTimeoutS', this.envVars) as number) * 1000,
    );
    const env = {
      rank: this.members[this.rank],
      world: this.members.length,
      localRank: this.localRank,
      localWorld: 0,
    } as RankEnv;
    return new Comm(env, this.job, this.control, this.arena, this.ctl, this.envVars, { group, members });
  }

  /** Leave the job: pending collectives of other ranks that need this one fail with ECLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.control.request({ type: 'close' }, 5000);
    } catch {
      /* coordinator gone */
    }
    this.control.close();
  }

  // ---- internals -----------------------------------------------------------------------

  private checkRoot(root = 0): number {
    if (!Number.isInteger(root) || root < 0 || root >= this.world)
      throw new OnetError('EINVAL', `root ${root} is out of range for world size ${this.world}`, [this.rank]);
    return root;
  }
  private checkPeer(peer: number, anyOk: boolean): void {
    if (!Number.isInteger(peer) || peer < (anyOk ? -1 : 0) || peer >= this.world || peer === this.rank)
      throw new OnetError(
        'EINVAL',
        `peer ${peer} is not another rank of world size ${this.world}${anyOk ? ' (or -1 for any)' : ''}`,
        [this.rank],
      );
  }
  private checkCounts(c: number[] | undefined, what: string): number[] {
    if (!Array.isArray(c) || c.length !== this.world || !c.every((n) => Number.isInteger(n) && n >= 0))
      throw new OnetError('EINVAL', `${what} must list ${this.world} non-negative integers, one per rank`, [this.rank]);
    return c;
  }

  private checkOut(out: TypedArray | undefined, t: TypedArray, length = t.length): TypedArray | undefined {
    if (out === undefined) return undefined;
    if (!ArrayBuffer.isView(out) || out.constructor !== t.constructor || out.length !== length)
      throw new OnetError('EINVAL', `out must be a ${t.constructor.name} of ${length} elements`, [this.rank]);
    return out;
  }

  private into<T extends TensorLike>(t: TypedArray, d: Done, x: T): T {
    if (d.out !== t) (t as any).set(d.out);
    return x;
  }

  private async run(s: Spec): Promise<Done> {
    if (this.closed) throw new OnetError('ECLOSED', 'the communicator is closed', [this.rank]);
    const redop = s.redop ?? 'sum';
    if (!REDOPS.includes(redop))
      throw new OnetError('EINVAL', `unknown reduce op ${JSON.stringify(redop)}; use one of ${REDOPS.join(', ')}`, [
        this.rank,
      ]);
    const seq = s.seq ?? ++this.seq;
    const a = this.arena;
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
        group: s.group ?? this.group,
        tag: s.tag ?? 0,
        scale: s.scale ?? 1,
        flags: 0,
      });
      native.post(a.buffer, this.ctl, slot);
      let state = native.spin(a.buffer, slot, this.spinUs);
      if (state === LAYOUT.state.posted) state = await native.wait(a.buffer, this.ctl, slot, this.timeoutMs);
      const c = a.finishSlot(slot);
      slot = -1;
      if (c.state === LAYOUT.state.error) throw OnetError.fromStatus(c.status, c.msg, c.ranks);
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
      return { out, src: c.src, outCount: c.outCount };
    } catch (e) {
      throw OnetError.fromNative(e);
    } finally {
      // A slot still posted (wait failed) stays reserved: the engine may yet write to it.
      if (slot < 0) for (const [off, bytes] of owned) a.release(off, bytes);
    }
  }
}

/** Join the job described by the environment (onet run, torchrun, or ONET_*). */
export function init(opts: InitOptions = {}): Promise<Comm> {
  return Comm.init(opts);
}
