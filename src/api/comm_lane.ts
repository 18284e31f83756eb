// The rank-side fast lane for Node ranks (docs/performance.md "Rank-side fast lane"): small
// allreduce, broadcast, allgather, reduce_scatter and barrier of a single-host communicator run
// among its ranks in a shared segment (native/rank/fastlane.h), without the coordinator.
//
// It follows python/opennetworks/_fastlane.py step for step, so Node and Python ranks share one
// communicator's lane: the same eligibility (the collective and this rank's input bytes against
// ONET_FASTLANE_MAX_BYTES, never timing), the capability question (`lane`, docs/protocol.md §2),
// the segment name, its set-up (group rank 0 creates it, one engine barrier, the others map it, rank
// 0 unlinks the name after the first call) and the error shaping (FastLane.error_for). A call tries
// on the JS thread for the spin window; a late peer is waited for on a worker thread.
//
// Order: engine calls are matched by their sequence numbers, so Comm.run numbers every call in program
// order, synchronously: it waits for the capability answer once (ready()), then start() decides at
// once whether the call takes the lane, taking the set-up barrier's engine number on the first one.
import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { COLL, DTYPE_SIZE, DTYPES, REDOPS, type RedOp } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { type LaneCall, type LaneOutcome, native } from '../native/addon.js';
import type { Done, Spec } from './comm_run.js';
import type { Control } from './control.js';
import { CTOR, type TypedArray } from './tensor.js';

const LANE_COLLS = new Set(['allreduce', 'broadcast', 'allgather', 'reduce_scatter', 'barrier']);
const DIRECT_COLLS = new Set(['allreduce', 'broadcast', 'allgather']); // fastlane.h direct_call (and reduce_scatter)
const TIMEOUT = 3;
const ABORTED = 4;
// The lane protocol this file implements (python/opennetworks/_fastlane_layout.py VERSION): 2 = calls above
// ONET_FASTLANE_MAX_BYTES cut in pieces the way _fastlane.py FastLane._chunks cuts them; 3 = direct calls
// (fastlane.h "Direct calls"); 4 = direct allreduces; 5 = direct allgathers push into arena outputs. An addon
// built with another version (native/rank/fastlane.h kVersion) makes Node ranks declare none: the engine path.
const VERSION = 5;

/** Whether this rank declares the lane at `register` (python/opennetworks/_fastlane_cap.py declared()). */
export function laneDeclared(env: NodeJS.ProcessEnv, localWorld: number, world: number): number {
  if (localWorld < world || (setting('fastlaneMaxBytes', env) as number) <= 0) return 0;
  return native.laneVersion === VERSION ? VERSION : 0;
}

/** What the lane needs of its communicator. */
export interface LaneHost {
  job: string;
  group: number;
  members: number[]; // global ranks; this rank is members[rank]
  rank: number;
  control: Control;
  ctl: ArrayBuffer; // the job's ctl segment: is the coordinator still there
  reg: { ctl: string; coordPid: number };
  declared: number;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** The next engine sequence number of the communicator (the set-up barrier's). */
  nextSeq(): bigint;
  /** Post s through the engine (the set-up barrier, numbered by s.seq). */
  engine(s: Spec): Promise<Done>;
}

export class Lane {
  private state: 'unknown' | 'off' | 'on' = 'unknown';
  private readonly maxBytes: number;
  private readonly limit: number; // calls up to this many bytes per rank take the lane, in pieces above maxBytes
  private readonly directMin: number; // fastlane.h direct_call: 0 never
  private readonly cap: number;
  private readonly spinUs: number;
  private readonly crowded: boolean;
  private readonly timeoutS: number;
  private seg: ArrayBuffer | null = null;
  private path: string | null = null; // set on group rank 0 until the name is unlinked
  private seq = 0;
  private broken: string | null = null;
  private deciding: Promise<void> | null = null;
  private attaching = false;
  private tail: Promise<unknown> = Promise.resolve();
  private inflight = 0; // lane calls started and not settled
  private readonly supported = new Map<string, string | null>(); // op/dtype/scale -> the kernels' refusal
  private nextCoordCheck = 0;
  /** Global ranks a lane call saw die (often before the coordinator did): Comm.shrink() drops them too. */
  readonly dead = new Set<number>();

  constructor(private readonly h: LaneHost) {
    this.maxBytes = h.declared ? (setting('fastlaneMaxBytes', h.env) as number) : 0;
    this.cap = Math.max(64, this.maxBytes);
    this.limit = Math.max(this.maxBytes, this.maxBytes ? (setting('fastlaneChunkedMaxBytes', h.env) as number) : 0);
    // Calls (but barriers) whose input is at least directMin bytes per rank are direct calls
    // (_fastlane.py direct_min).
    const direct = this.maxBytes ? (setting('fastlaneDirectMinBytes', h.env) as number) : 0;
    this.directMin = direct > 0 && native.laneDirectOk() ? direct : 0;
    // Spinning only pays while every rank has a core (the Python side's rule: docs/performance.md).
    this.crowded = h.members.length > availableParallelism();
    this.spinUs = setting('spinUs', h.env) as number; // adapted per call to the host's load (laneSpinUs)
    this.timeoutS = setting('timeoutS', h.env) as number;
    if (this.maxBytes <= 0) this.state = 'off';
  }

  /** null once the coordinator answered whether this communicator has the lane; else wait for this. */
  ready(): Promise<void> | null {
    if (this.state !== 'unknown') return null;
    this.deciding ??= this.allowed().then(
      (v) => {
        this.state = v === native.laneVersion ? 'on' : 'off';
      },
      (e) => {
        this.deciding = null; // asked again by the next call
        throw e;
      },
    );
    return this.deciding;
  }

  /** The call on the lane, or null: it belongs on the engine path. Decides synchronously (see the top). */
  start(s: Spec, redop: RedOp): Promise<Done> | null {
    if (this.state !== 'on' || !LANE_COLLS.has(s.coll) || (s.inBytes > this.limit && !this.direct(s))) return null;
    if (this.broken !== null) {
      if (this.seg && native.laneHead(this.seg).aborted) return null; // the engine gives the coordinator's error
      return Promise.reject(new OnetError('EABORTED', this.broken, [this.me]));
    }
    if (this.seg && native.laneHead(this.seg).aborted) {
      this.broken = `the fast lane of group ${this.h.group} was aborted`;
      return null;
    }
    const barrier = this.attaching ? undefined : this.h.nextSeq();
    this.attaching = true;
    if (barrier === undefined && this.seg && this.inflight === 0) {
      // Nothing in flight: run it now; it settles here unless a peer is late (then a worker finishes it).
      try {
        const d = this.call(s, redop);
        return d instanceof Promise ? this.track(d) : Promise.resolve(d);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    // One lane call at a time per communicator: call k starts after k-1 ended (fastlane.h's two blocks).
    const prev = this.tail;
    return this.track(
      (async () => {
        await prev;
        if (barrier !== undefined) await this.attachOrBreak(barrier);
        else if (!this.seg) throw new OnetError('EABORTED', this.broken ?? 'the fast lane is not set up', [this.me]);
        return this.call(s, redop);
      })(),
    );
  }

  private track(p: Promise<Done>): Promise<Done> {
    this.inflight++;
    const settled = () => {
      this.inflight--;
    };
    this.tail = p.then(settled, settled);
    return p;
  }

  // ---- set-up ------------------------------------------------------------------------------
  /** The coordinator's answer for this communicator (asked again while members have not registered). */
  private async allowed(): Promise<number> {
    const ranks = [...this.h.members].sort((a, b) => a - b);
    const deadline = Date.now() + this.h.timeoutMs;
    let pause = 5;
    for (;;) {
      this.checkCoordinator();
      let reply: Record<string, any>;
      try {
        // Short waits, so that a dead coordinator is noticed above.
        reply = await this.h.control.request(
          { type: 'lane', ranks },
          Math.min(2000, Math.max(500, deadline - Date.now())),
        );
      } catch (e) {
        if ((e as OnetError).code === 'ETIMEDOUT' && Date.now() < deadline) continue;
        throw e;
      }
      const missing: number[] = reply.missing ?? [];
      if (!missing.length) return reply.fastlane === native.laneVersion ? reply.fastlane : 0;
      if (Date.now() + pause > deadline)
        throw new OnetError(
          'ETIMEDOUT',
          `rank ${this.me}: rank(s) ${missing.join(', ')} of the communicator [${ranks}] did not register within ` +
            `${Math.round(this.h.timeoutMs / 1000)} s; start them or raise ONET_TIMEOUT`,
          missing,
        );
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 100);
    }
  }

  /** What a waiting engine call checks too (rank_binding.cc): a closed or dead coordinator ends the job. */
  private checkCoordinator(): void {
    const r = native.laneCoordinator(this.h.ctl);
    if (r !== 0) throw OnetError.fromStatus(r.status, `rank ${this.me}: ${r.message}`, [this.me]);
  }

  private get me(): number {
    return this.h.members[this.h.rank];
  }

  /** The segment's name: python/opennetworks/_fastlane.py FastLane._name, so mixed jobs share it. */
  private name(): string {
    const tag = createHash('sha1').update(`${this.h.job}/${this.h.reg.coordPid}/${this.h.reg.ctl}`).digest('hex');
    return `/dev/shm/onet-fl-${tag.slice(0, 12)}-${process.getuid?.() ?? 0}-g${this.h.group}`;
  }

  private async attachOrBreak(barrier: bigint): Promise<void> {
    try {
      await this.attach(barrier);
    } catch (e) {
      this.broken = `the fast lane of group ${this.h.group} could not be set up: ${(e as Error).message}`;
      throw e;
    }
  }

  private async attach(barrier: bigint): Promise<void> {
    const path = this.name();
    const P = this.h.members.length;
    let seg: ArrayBuffer | null = null;
    if (this.h.rank === 0) {
      seg = native.laneCreate(path, P, this.cap);
      process.once('exit', () => unlinkQuietly(path)); // in case this rank never completes a lane call
    }
    try {
      await this.h.engine({ coll: 'barrier', dtype: 'u8', count: 0, inBytes: 0, outBytes: 0, seq: barrier });
    } catch (e) {
      if (this.h.rank === 0) unlinkQuietly(path);
      throw e;
    }
    if (!seg) {
      seg = native.laneOpen(path);
      if (!seg)
        throw new OnetError(
          'EABORTED',
          `rank ${this.me}: the fast-lane segment ${path} of group ${this.h.group} is missing; group rank 0 did not ` +
            'create it (set ONET_FASTLANE_MAX_BYTES to the same value on every rank)',
          [this.h.members[0]],
        );
      const head = native.laneHead(seg);
      if (head.magic !== native.laneMagic || head.version !== native.laneVersion || head.size !== P)
        throw new OnetError('EABORTED', `${path} is not this group's fast-lane segment (magic/version/size)`, [
          this.me,
        ]);
      if (head.cap !== this.cap) {
        native.laneAbort(seg, this.me);
        throw new OnetError(
          'EINVAL',
          `rank ${this.me}: ONET_FASTLANE_MAX_BYTES is ${this.maxBytes} here but ${head.cap} on rank ` +
            `${this.h.members[0]}; set the same value on every rank`,
          [this.h.members[0], this.me],
        );
      }
    }
    native.laneJoin(seg, this.h.rank, this.me);
    this.seg = seg;
    this.path = this.h.rank === 0 ? path : null;
  }

  // ---- one call ----------------------------------------------------------------------------
  private call(s: Spec, redop: RedOp): Done | Promise<Done> {
    if (this.broken !== null) throw new OnetError('EABORTED', this.broken, [this.me]);
    const now = Date.now();
    if (now > this.nextCoordCheck) {
      this.nextCoordCheck = now + 50; // _fastlane.py _COORD_CHECK_S
      try {
        this.checkCoordinator();
      } catch (e) {
        if (this.seg) native.laneAbort(this.seg, this.me); // peers waiting in this call learn it at once
        throw e;
      }
    }
    const out = output(s);
    const input = s.inBytes ? (s.input ?? null) : null;
    const seq0 = this.seq + 1;
    const done = (): Done => {
      this.refuseUnsupported(s, redop, seq0);
      return { out: out ?? new Uint8Array(0), src: -1, outCount: 0 };
    };
    const direct = this.direct(s);
    if (s.inBytes > this.maxBytes && !direct) return this.pieces(s, redop, input, out!).then(done);
    const w = this.piece(s, redop, s.count, direct ? (s.input ?? null) : input, s.inBytes, out, direct);
    return w ? w.then(done) : done();
  }

  /** fastlane.h direct_call: an allreduce, broadcast or all_gather whose input is at least directMin bytes per
   * rank, a reduce_scatter whose input is more. */
  private direct(s: Spec): boolean {
    if (s.coll === 'reduce_scatter') return this.directMin > 0 && s.inBytes > this.directMin;
    return this.directMin > 0 && s.inBytes >= this.directMin && DIRECT_COLLS.has(s.coll);
  }

  /** The lane folds nothing for 0 elements, so it cannot refuse an op the kernels lack (bxor on f32, a
   * fractional premul_sum on ints); the engine refuses it at any count (engine/match.cc): so does this,
   * after the call, which kept this rank in step with its peers. */
  private refuseUnsupported(s: Spec, redop: RedOp, seq: number): void {
    if (s.coll !== 'allreduce' && s.coll !== 'reduce_scatter') return;
    const key = `${redop}/${s.dtype}/${s.scale ?? 1}`;
    let why = this.supported.get(key);
    if (why === undefined) {
      why = null;
      try {
        native.reduce(REDOPS.indexOf(redop), DTYPES.indexOf(s.dtype), EMPTY, [EMPTY], s.scale ?? 1, 1);
      } catch (e) {
        why = (e as Error).message;
      }
      if (this.supported.size < 256) this.supported.set(key, why);
    }
    if (why !== null) throw new OnetError('ENOTSUP', `fast-lane ${s.coll} #${seq}: rank ${this.me} ${why}`, [this.me]);
  }

  /** A call above the block, as lane calls of at most maxBytes each in element order (_fastlane.py _chunks). */
  private async pieces(s: Spec, redop: RedOp, input: TypedArray | null, out: TypedArray): Promise<void> {
    const es = DTYPE_SIZE[s.dtype];
    const P = this.h.members.length;
    const rs = s.coll === 'reduce_scatter';
    const step = Math.floor(this.maxBytes / (es * (rs ? P : 1)));
    if (step < 1)
      throw new OnetError(
        'EINVAL',
        `fast-lane blocks of ${this.maxBytes} bytes cannot hold one element per rank; raise ONET_FASTLANE_MAX_BYTES`,
        [this.me],
      );
    const bytes = (t: TypedArray, at: number, n: number) => new Uint8Array(t.buffer, t.byteOffset + at * es, n * es);
    const count = s.count;
    const stage = new Uint8Array(P * Math.min(step, count) * es);
    for (let a = 0; a < count; a += step) {
      const n = Math.min(step, count - a);
      if (s.coll === 'reduce_scatter') {
        const packed = input ? stage.subarray(0, P * n * es) : null;
        for (let r = 0; packed && r < P; r++) packed.set(bytes(input!, r * count + a, n), r * n * es);
        await this.piece(s, redop, n, packed, packed ? P * n * es : 0, bytes(out, a, n));
      } else if (s.coll === 'allgather') {
        const got = stage.subarray(0, P * n * es);
        await this.piece(s, redop, n, input && bytes(input, a, n), input ? n * es : 0, got);
        for (let r = 0; r < P; r++) bytes(out, r * count + a, n).set(got.subarray(r * n * es, (r + 1) * n * es));
      } else {
        await this.piece(s, redop, n, input && bytes(input, a, n), input ? n * es : 0, bytes(out, a, n));
      }
    }
  }

  /** One lane call: published at once, completed on the JS thread when every peer arrived within the spin
   * window, else on a worker thread (bindings/node/lane_binding.cc). */
  private piece(
    s: Spec,
    redop: RedOp,
    count: number,
    input: ArrayBufferView | null,
    inBytes: number,
    out: ArrayBufferView | null,
    direct = false,
  ): Promise<void> | undefined {
    const seq = ++this.seq;
    const args: LaneCall = [
      this.seg!,
      this.h.rank,
      seq,
      COLL[s.coll],
      DTYPES.indexOf(s.dtype),
      REDOPS.indexOf(redop),
      s.root ?? 0,
      count,
      s.scale ?? 1,
      input,
      inBytes,
      out,
      native.laneSpinUs(this.spinUs, this.crowded),
      this.timeoutS,
      direct ? 1 : 0,
    ];
    const r = native.laneTry(...args);
    if (r === -1) return this.waitFor(seq, args);
    this.settle(seq, r, 0);
    return undefined;
  }

  /** A published call whose peers are late, completed on a worker thread. While it waits, the coordinator is
   * checked as an engine wait checks it: when the job is over, abort the lane (this worker and the peers wake
   * up at once) and report why. */
  private async waitFor(seq: number, args: LaneCall): Promise<void> {
    let gone: LaneOutcome = 0;
    const watch = setInterval(() => {
      const c = native.laneCoordinator(this.h.ctl);
      if (c !== 0 && gone === 0) {
        gone = c;
        native.laneAbort(this.seg!, this.me);
      }
    }, 50);
    let r: LaneOutcome;
    try {
      r = await native.laneWait(...args);
    } finally {
      clearInterval(watch);
    }
    this.settle(seq, r, gone);
  }

  /** After lane call `seq`: unlink the segment's name after the first call; its outcome as an error. */
  private settle(seq: number, r: LaneOutcome, gone: LaneOutcome): void {
    if (this.path !== null) {
      unlinkQuietly(this.path); // every peer that arrived has it mapped by now
      this.path = null;
    }
    if (r !== 0 && gone !== 0) {
      const g = gone as Exclude<LaneOutcome, 0>;
      this.broken = `the fast lane of group ${this.h.group} is unusable after: ${g.message}`;
      throw OnetError.fromStatus(g.status, `rank ${this.me}: ${g.message}`, [this.me]);
    }
    if (r !== 0) throw this.errorFor(seq, r.status, r.message, r.ranks);
  }

  /** The error of lane call `seq` (python FastLane.error_for): a peer gone or late breaks the lane for good. */
  private errorFor(seq: number, status: number, message: string, ranks: number[]): OnetError {
    if (status === TIMEOUT || status === ABORTED) {
      this.broken = `the fast lane of group ${this.h.group} is unusable after: ${message}`;
      const ab = this.seg ? native.laneHead(this.seg).aborted : 0;
      if (status === ABORTED && !ab) for (const r of ranks) this.dead.add(r); // "rank r (pid …) died …"
      if (status === ABORTED && ab)
        return new OnetError(
          'EABORTED',
          `rank ${this.me}: fast-lane collective #${seq}: the communicator was aborted by rank ${ab - 1}`,
          [ab - 1],
        );
    }
    return OnetError.fromStatus(status, message, ranks);
  }
}

const EMPTY = new Uint8Array(0);

/** Where the result goes: the input itself (in place), the caller's output, or a new array. */
function output(s: Spec): TypedArray | null {
  if (s.coll === 'barrier') return null;
  if (s.inPlace && s.input) return s.input;
  if (s.output) return s.output;
  return new CTOR[s.dtype](new ArrayBuffer(s.outBytes), 0, s.outBytes / DTYPE_SIZE[s.dtype]);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}
