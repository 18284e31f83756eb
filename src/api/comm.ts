// The Node rank API: `const comm = await init(); await comm.allreduce(x, { op: 'sum' })`.
// This file is the communicator's lifecycle (init, alloc/free, shrink, close) and its public
// surface; the work lives beside it: the collectives in comm_collectives.ts, send/recv in
// comm_p2p.ts, argument checks in comm_checks.ts and the arena/slot round trip in comm_run.ts.

import type { Table } from 'apache-arrow';
import { DTYPE_SIZE, DTYPES, type DType, LAYOUT, type RedOp } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { jobId, jobPaths } from '../coordinator/paths.js';
import { OnetError } from '../errors.js';
import { native } from '../native/addon.js';
import { clientAuth } from '../security/auth.js';
import { Arena } from './arena.js';
import { checkDrop, checkRedop } from './comm_checks.js';
import type { ReduceOptions, RootOptions, Runner } from './comm_collectives.js';
import * as coll from './comm_collectives.js';
import { Lane, laneDeclared } from './comm_lane.js';
import * as p2p from './comm_p2p.js';
import { type Done, postAndWait, type Spec } from './comm_run.js';
import type { Compression } from './compression.js';
import { Control, coordinatorRunning, startCoordinator } from './control.js';
import { type RankEnv, rankEnv } from './env.js';
import { type AllgatherTableOptions, allgatherTable } from './table.js';
import { CTOR, type TensorLike, type TypedArray } from './tensor.js';

export type { ReduceOptions, RootOptions } from './comm_collectives.js';

export interface InitOptions extends Partial<RankEnv> {
  job?: string;
  env?: NodeJS.ProcessEnv;
  framework?: string;
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
  /** What the collectives and send/recv see of this communicator. */
  private readonly io: Runner;
  /** The rank-side fast lane of this communicator (comm_lane.ts). */
  private readonly lane: Lane;

  private constructor(
    env: RankEnv,
    job: string,
    private readonly control: Control,
    private readonly arena: Arena,
    private readonly ctl: ArrayBuffer,
    private readonly envVars: NodeJS.ProcessEnv,
    private readonly reg: { ctl: string; coordPid: number; fastlane: number },
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
    this.io = { rank: this.rank, world: this.world, run: (s) => this.run(s) };
    this.lane = new Lane({
      job,
      group: this.group,
      members: this.members,
      rank: this.rank,
      control,
      ctl,
      reg,
      declared: reg.fastlane,
      env: envVars,
      timeoutMs: this.timeoutMs,
      nextSeq: () => ++this.seq,
      engine: (s) => this.post(s, 'sum'),
    });
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
    // Web ranks' communicators live in the coordinator (src/web/session.ts): their peers cannot see
    // the tab die through the lane, so they take the engine path.
    const framework = opts.framework ?? 'node';
    const fastlane = framework === 'node' ? laneDeclared(envVars, env.localWorld, env.world) : 0;
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
          framework,
          ...(fastlane ? { fastlane } : {}), // this rank can run the rank-side fast lane (docs/protocol.md §2)
          ...clientAuth(envVars, ['register', job, env.rank, process.pid], ['rank']),
          // Across hosts the coordinator answers once it has met the others (bootstrap + mesh).
        },
        env.localWorld < env.world ? 3 * connectMs : connectMs,
      );
      const buffer = native.mapSegment(reg.arena);
      const ctl = native.mapSegment(reg.ctl);
      await control.request({ type: 'mapped' }, connectMs);
      const laneReg = { ctl: reg.ctl, coordPid: reg.coordPid, fastlane };
      return new Comm(env, job, control, new Arena(buffer, reg.dataBytes), ctl, envVars, laneReg);
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

  // ---- collectives (comm_collectives.ts) -----------------------------------------------

  /** Reduce x across ranks in place; returns x. `compression`/`key`: this call's codec and error-feedback key. */
  allreduce<T extends TensorLike>(x: T, o: ReduceOptions = {}): Promise<T> {
    return coll.allreduce(this.io, x, { compression: this.compression, ...o });
  }

  /** This communicator's codec for cross-host allreduces (docs/compression.md); a call's option overrides it.
   * Undefined: ONET_COMPRESSION of the coordinators. Every rank of the group must choose alike. */
  compression?: Compression;

  /** Reduce x onto root (in place there); other ranks' x is unchanged. */
  reduce<T extends TensorLike>(x: T, o: ReduceOptions & RootOptions = {}): Promise<T> {
    return coll.reduce(this.io, x, o);
  }

  /** Root's x overwrites every rank's x; returns x. */
  broadcast<T extends TensorLike>(x: T, o: RootOptions = {}): Promise<T> {
    return coll.broadcast(this.io, x, o);
  }

  /** Concatenation of every rank's x, rank-major. */
  allgather(x: TensorLike, o: { dtype?: DType; out?: TypedArray } = {}): Promise<TypedArray> {
    return coll.allgather(this.io, x, o);
  }

  /** allgather with per-rank lengths: `counts[r]` elements from rank r. */
  allgatherv(x: TensorLike, o: { counts: number[]; dtype?: DType }): Promise<TypedArray> {
    return coll.allgatherv(this.io, x, o);
  }

  /** x holds world blocks; rank r gets the reduction of every rank's block r. */
  reduceScatter(x: TensorLike, o: ReduceOptions = {}): Promise<TypedArray> {
    return coll.reduceScatter(this.io, x, o);
  }

  /** reduce_scatter with block r of `counts[r]` elements. */
  reduceScatterv(x: TensorLike, o: ReduceOptions & { counts: number[] }): Promise<TypedArray> {
    return coll.reduceScatterv(this.io, x, o);
  }

  /** Block j of x goes to rank j; block j of the result came from rank j. */
  alltoall(x: TensorLike, o: { dtype?: DType; out?: TypedArray } = {}): Promise<TypedArray> {
    return coll.alltoall(this.io, x, o);
  }

  /** alltoall with `sendCounts[j]` elements to rank j and `recvCounts[j]` from it (packed in rank order). */
  alltoallv(x: TensorLike, o: { sendCounts: number[]; recvCounts: number[]; dtype?: DType }): Promise<TypedArray> {
    return coll.alltoallv(this.io, x, o);
  }

  /** Every rank's x, concatenated at root; null elsewhere. */
  gather(x: TensorLike, o: RootOptions = {}): Promise<TypedArray | null> {
    return coll.gather(this.io, x, o);
  }

  /** Root's x (world·count elements) split into blocks; rank r gets block r. */
  scatter(x: TensorLike | null, o: RootOptions & { count: number; dtype?: DType }): Promise<TypedArray> {
    return coll.scatter(this.io, x, o);
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

  barrier(): Promise<void> {
    return coll.barrier(this.io);
  }

  // ---- point-to-point (comm_p2p.ts) ----------------------------------------------------

  /** Send x to rank `peer` (matched FIFO with its recv of the same tag). */
  send(x: TensorLike, peer: number, o: { tag?: number; dtype?: DType } = {}): Promise<void> {
    return p2p.send(this.io, x, peer, o);
  }

  /** Receive into x (its length is the capacity) from `peer`, or from anyone with -1. */
  recv<T extends TensorLike>(
    x: T,
    peer = -1,
    o: { tag?: number; dtype?: DType } = {},
  ): Promise<{ data: TypedArray; src: number }> {
    return p2p.recv(this.io, x, peer, o);
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /**
   * Recovery after a failure: a new communicator over the survivors of this one. Every
   * surviving rank calls shrink() with the same list (ranks of *this* communicator to drop);
   * without one, the ranks the local coordinator saw die or close (or a fast-lane call saw die) are dropped
   * (one host only).
   * Ranks are renumbered 0..survivors-1 in the old order; this communicator stays usable for
   * nothing that needs the dropped ranks.
   */
  async shrink(ranksToDrop?: number[]): Promise<Comm> {
    if (this.closed) throw new OnetError('ECLOSED', 'shrink() on a closed communicator', [this.rank]);
    let drop = ranksToDrop;
    if (drop === undefined) {
      const st = await this.control.request({ type: 'status' }, 5000);
      const gone = new Set<number>(st.ranks.filter((r: any) => r.state !== 'live').map((r: any) => r.rank));
      drop = this.members.flatMap((g, i) => (gone.has(g) || this.lane.dead.has(g) ? [i] : []));
    }
    const dropped = checkDrop(this, drop, ranksToDrop);
    const members = this.members.filter((_, i) => !dropped.includes(i));
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
    return new Comm(env, this.job, this.control, this.arena, this.ctl, this.envVars, this.reg, { group, members });
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

  /** Every collective and send/recv: refuse on a closed communicator, number it, post it. */
  private async run(s: Spec): Promise<Done> {
    if (this.closed) throw new OnetError('ECLOSED', 'the communicator is closed', [this.rank]);
    const redop = checkRedop(this, s.redop ?? 'sum');
    // Small single-host collectives take the fast lane; every call is numbered in program order (comm_lane.ts).
    const deciding = this.lane.ready();
    if (deciding) await deciding;
    if (s.seq === undefined) {
      const onLane = this.lane.start(s, redop);
      if (onLane) return onLane;
    }
    return this.post(s, redop);
  }

  /** Post s through the engine as the next collective (or as s.seq). */
  private post(s: Spec, redop: RedOp): Promise<Done> {
    const seq = s.seq ?? ++this.seq;
    const { arena, ctl, group, spinUs, timeoutMs } = this;
    return postAndWait({ arena, ctl, group, spinUs, timeoutMs }, s, seq, redop);
  }
}

/** Join the job described by the environment (onet run, torchrun, or ONET_*). */
export function init(opts: InitOptions = {}): Promise<Comm> {
  return Comm.init(opts);
}
