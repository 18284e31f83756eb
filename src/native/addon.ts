// The only module that loads the native addon (STYLE rule 4): declarations of its surface,
// nothing else. Ergonomic wrappers live in coordinator/ and api/.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EngineConfig {
  job: string;
  world: number;
  threads: number;
  chunkBytes: number;
  parallelBytes: number;
  spinUs: number;
  timeoutMs: number;
  arenaBytes: number;
  /** ONET_FUSION_BYTES: largest fused cross-host exchange of small allreduces (engine/fusion.cc); 0 = no fusion. */
  fusionBytes?: number;
  /** Telemetry (native/engine/stats.h): counters on, trace records kept, straggler window. */
  stats?: boolean;
  trace?: boolean;
  stragglerWindow?: number;
  stragglerGapUs?: number;
}
/** engine.stats(), parsed: cumulative since the engine started; `nowNs` is the engine's monotonic clock. */
export interface EngineStats {
  enabled: boolean;
  trace: boolean;
  world: number;
  nowNs: number;
  posts: number;
  completions: number;
  collectives: number;
  /** Collectives that ran inside a fused cross-host exchange (lead included), and how many such exchanges. */
  fused: number;
  fusedExchanges: number;
  window: { size: number; filled: number; gapNs: number };
  errors: number[]; // by status code (errors.ts CODES)
  cells: {
    coll: string;
    dtype: string;
    sizeBucket: number;
    calls: number;
    bytes: number;
    durNs: number;
    waitNs: number;
    hist: [number, number][];
  }[];
  ranks: {
    rank: number;
    lastColl: string | null;
    lastGroup: number;
    lastSeq: number;
    lastDoneNs: number;
    lateWindow: number;
    lateTotal: number;
    lateNs: number;
    arenaHighWater: number;
  }[];
}
/**
 * engine.drainTrace(): collectives since the last drain as Chrome-trace events (comma-separated JSON, µs of the
 * engine's monotonic clock).
 */
export interface EngineTrace {
  events: string;
  count: number;
  dropped: number;
  ranks: number[];
}
// code/ranks: the completion's Status as data (code name from spec/errors.json, the ranks concerned).
export interface EngineEvent {
  kind: 'done' | 'error';
  rank: number;
  slot: number;
  status: number;
  code: string;
  message: string;
  ranks: number[];
  seq: number;
}

export declare class Engine {
  constructor(config: EngineConfig, onEvent: (e: EngineEvent) => void);
  /** pid: the process that registered (its single-copy posts may name only its memory); 0/absent: none may. */
  addRank(rank: number, localRank: number, pid?: number): string;
  unlinkArena(rank: number): void;
  setGroup(id: number, ranks: number[]): void;
  failRank(rank: number, code: number, why: string): void;
  kick(): void;
  ctlName(): string;
  snapshot(): string;
  /** JSON of EngineStats. */
  stats(): string;
  /** Empties the trace ring. */
  drainTrace(): EngineTrace;
  close(): void;
  /** Create the inter-host transport device; returns the "ip:port" peers connect to. */
  netListen(o: {
    transport: 'tcp' | 'ucx';
    bindIp: string;
    port?: number;
    streams?: number;
    checksum?: boolean;
    zerocopyBytes?: number;
    jobHash?: number;
    heartbeatMs?: number;
    testCorruptEvery?: number;
    tlsCert?: string;
    tlsKey?: string;
    tlsCa?: string;
  }): string;
  /** Connect the full mesh of coordinators (off the JS thread); hostOfRank[r] = host index of rank r. */
  netConnect(me: number, addrs: string[], hostOfRank: number[], timeoutMs: number): Promise<void>;
  /** Size-range algorithm choice for cross-host collectives (src/scheduler). */
  setAlgoRules(rules: { coll: string; maxBytes: number; algo: string; chunkBytes?: number }[]): void;
  /** JSON: per-peer transport counters. */
  links(): string;
  /** Compression of a group's cross-host allreduces (docs/compression.md); '' = back to ONET_COMPRESSION. */
  setCompression(group: number, codec: string): void;
  /** JSON: {default, residuals, codecs: {name: {calls, bytesBefore, bytesAfter}}}. */
  compression(): string;
}

export interface Addon {
  Engine: typeof Engine;
  cleanStale(job?: string): number;
  mapSegment(name: string): ArrayBuffer;
  post(arena: ArrayBuffer, ctl: ArrayBuffer, slot: number): void;
  spin(arena: ArrayBuffer, slot: number, spinUs: number): number;
  wait(arena: ArrayBuffer, ctl: ArrayBuffer, slot: number, timeoutMs: number): Promise<number>;
  reduce(
    op: number,
    dtype: number,
    out: ArrayBufferView,
    inputs: ArrayBufferView[],
    scale: number,
    divisor: number,
  ): void;
  simdIsa(): string;
  /** Bytes copied per second by `threads` threads each copying its own `bytes` buffer `iters` times. */
  memcpyBench(bytes: number, threads: number, iters: number): number;
  // The rank-side fast lane (bindings/node/lane_binding.cc, src/api/comm_lane.ts).
  laneVersion: number;
  laneMagic: number;
  laneCreate(path: string, size: number, cap: number): ArrayBuffer;
  laneOpen(path: string): ArrayBuffer | null;
  laneJoin(seg: ArrayBuffer, rank: number, globalRank: number): void;
  lanePublish(...call: LaneCall): LaneOutcome;
  laneArrived(seg: ArrayBuffer, seq: number, spinUs: number): boolean;
  /** lanePublish, then laneRun when laneArrived within the spin; -1: the peers are late (laneWait finishes it). */
  laneTry(...call: LaneCall): LaneOutcome | -1;
  laneSpinUs(spinUs: number, crowded: boolean): number;
  laneCoordinator(ctl: ArrayBuffer): LaneOutcome;
  laneRun(...call: LaneCall): LaneOutcome;
  laneWait(...call: LaneCall): Promise<LaneOutcome>;
  laneAbort(seg: ArrayBuffer, globalRank: number): void;
  laneHead(seg: ArrayBuffer): { magic: number; version: number; size: number; cap: number; aborted: number };
  /** Whether direct lane calls can work in this process (sets PR_SET_PTRACER_ANY under Yama ptrace_scope 1). */
  laneDirectOk(): boolean;
}
/** One lane call: seg, group rank, seq, coll, dtype, redop, root, count, scale, input, inBytes, output,
 * spinUs, timeoutS, flags (1: a direct call, native/rank/fastlane.h). */
export type LaneCall = [
  ArrayBuffer,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  ArrayBufferView | null,
  number,
  ArrayBufferView | null,
  number,
  number,
  number,
];
/** 0: done; else the lane's Status as data. */
export type LaneOutcome = 0 | { status: number; message: string; ranks: number[] };

// The addon links UCX; UCX's malloc/mmap hooks, installed when the library loads, corrupt V8's
// heap now and then (seen as SIGSEGV in GC in ~4% of Node rank runs). Turn them off unless the
// user chose otherwise: UCX then skips its registration cache, which the TCP/shm transports
// we test with do not need (see docs/transport.md).
for (const [k, v] of [
  ['UCX_MEM_MMAP_HOOK_MODE', 'none'],
  ['UCX_MEM_MALLOC_HOOKS', 'no'],
  ['UCX_MEM_EVENTS', 'no'],
])
  if (process.env[k] === undefined) process.env[k] = v;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const native: Addon = createRequire(import.meta.url)(join(root, 'build', 'Release', 'onet.node'));
