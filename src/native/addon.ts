// The only module that loads the native addon (STYLE rule 4): declarations of its surface,
// nothing else. Ergonomic wrappers live in coordinator/ and api/.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EngineConfig {
  job: string; world: number; threads: number; chunkBytes: number; parallelBytes: number;
  spinUs: number; timeoutMs: number; arenaBytes: number;
}
export interface EngineEvent { kind: 'done' | 'error'; rank: number; slot: number; status: number; message: string; seq: number }

export declare class Engine {
  constructor(config: EngineConfig, onEvent: (e: EngineEvent) => void);
  addRank(rank: number, localRank: number): string;
  unlinkArena(rank: number): void;
  setGroup(id: number, ranks: number[]): void;
  failRank(rank: number, code: number, why: string): void;
  kick(): void;
  ctlName(): string;
  snapshot(): string;
  close(): void;
}

export interface Addon {
  Engine: typeof Engine;
  cleanStale(job?: string): number;
  mapSegment(name: string): ArrayBuffer;
  post(arena: ArrayBuffer, ctl: ArrayBuffer, slot: number): void;
  spin(arena: ArrayBuffer, slot: number, spinUs: number): number;
  wait(arena: ArrayBuffer, ctl: ArrayBuffer, slot: number, timeoutMs: number): Promise<number>;
  reduce(op: number, dtype: number, out: ArrayBufferView, inputs: ArrayBufferView[], scale: number, divisor: number): void;
  simdIsa(): string;
  /** Bytes copied per second by `threads` threads each copying its own `bytes` buffer `iters` times. */
  memcpyBench(bytes: number, threads: number, iters: number): number;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const native: Addon = createRequire(import.meta.url)(join(root, 'build', 'Release', 'onet.node'));
