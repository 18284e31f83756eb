// Sliding windows over the engine's cumulative counters (native/engine/stats.h): the engine only
// counts; percentiles, rates and bandwidths are differences between two polls, computed here.
import { busbwFactor, COLL, type Coll } from '../gen/enums.js';
import type { EngineStats } from '../native/addon.js';

type Cell = EngineStats['cells'][number];

/** Quarter-octave buckets of v = ns·1.024 (1/1024 µs): bucket i starts at lowerUs(i). */
export const HIST_BUCKETS = 168;
export function bucketLowerUs(i: number): number {
  if (i < 4) return i / 1024;
  const e = Math.floor(i / 4) + 1,
    m = i % 4;
  return ((4 + m) * 2 ** (e - 2)) / 1024;
}
/** Prometheus `le` boundaries: 1 µs … 2^24 µs (16.8 s), each an exact fine-bucket boundary. */
export const LE_US = Array.from({ length: 25 }, (_, j) => 2 ** j);
export const leIndex = (j: number) => 4 * (9 + j); // fine buckets below 2^j µs

/** Size-bucket label: bucket k > 0 holds sizes in (2^(k-2), 2^(k-1)] bytes. */
export function sizeLabel(k: number): string {
  if (k === 0) return '0B';
  const b = 2 ** (k - 1);
  const units: [number, string][] = [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [u, s] of units) if (b >= u) return `${b / u}${s}`;
  return `${b}B`;
}

/** busbw = algbw × this (nccl-tests conventions, spec/enums.json); 1 for ops that are not collectives. */
export function busFactor(op: string, P: number): number {
  return op in COLL ? busbwFactor(op as Coll, P) : 1;
}

export type Hist = Map<number, number>;
const histOf = (c: Cell): Hist => new Map(c.hist);

/** q-quantile in µs of a fine histogram, interpolated inside its bucket; NaN when empty. */
export function quantileUs(h: Hist, q: number): number {
  let total = 0;
  for (const n of h.values()) total += n;
  if (!total) return NaN;
  const target = q * total;
  let seen = 0;
  for (const i of [...h.keys()].sort((a, b) => a - b)) {
    const n = h.get(i)!;
    if (seen + n >= target) {
      const lo = bucketLowerUs(i),
        hi = bucketLowerUs(i + 1);
      return lo + (hi - lo) * Math.min(1, Math.max(0, (target - seen) / n));
    }
    seen += n;
  }
  return bucketLowerUs(HIST_BUCKETS);
}

export interface Delta {
  op: string;
  dtype: string;
  sizeBucket: number;
  calls: number;
  bytes: number;
  durNs: number;
  waitNs: number;
  hist: Hist;
}
export const cellKey = (c: { op?: string; coll?: string; dtype: string; sizeBucket: number }) =>
  `${c.op ?? c.coll}|${c.dtype}|${c.sizeBucket}`;

/** What happened between two polls, per (op, dtype, size bucket). */
export function diff(now: EngineStats, before?: EngineStats): Delta[] {
  const old = new Map((before?.cells ?? []).map((c) => [cellKey(c), c]));
  const out: Delta[] = [];
  for (const c of now.cells) {
    const o = old.get(cellKey(c));
    const h = histOf(c);
    if (o) for (const [i, n] of o.hist) h.set(i, (h.get(i) ?? 0) - n);
    for (const [i, n] of h) if (n <= 0) h.delete(i);
    const calls = c.calls - (o?.calls ?? 0);
    if (calls <= 0) continue;
    out.push({
      op: c.coll,
      dtype: c.dtype,
      sizeBucket: c.sizeBucket,
      calls,
      bytes: c.bytes - (o?.bytes ?? 0),
      durNs: c.durNs - (o?.durNs ?? 0),
      waitNs: c.waitNs - (o?.waitNs ?? 0),
      hist: h,
    });
  }
  return out;
}

export interface Summary {
  calls: number;
  bytes: number;
  algbw: number;
  busbw: number;
  p50Us: number;
  p95Us: number;
  p99Us: number;
}

/** Merge deltas (e.g. every cell of one op) into rates and percentiles. */
export function summarise(ds: Delta[], P: number, op?: string): Summary {
  const h: Hist = new Map();
  let calls = 0,
    bytes = 0,
    durNs = 0;
  for (const d of ds) {
    calls += d.calls;
    bytes += d.bytes;
    durNs += d.durNs;
    for (const [i, n] of d.hist) h.set(i, (h.get(i) ?? 0) + n);
  }
  const algbw = durNs > 0 ? bytes / (durNs / 1e9) : 0;
  return {
    calls,
    bytes,
    algbw,
    busbw: op ? algbw * busFactor(op, P) : algbw,
    p50Us: quantileUs(h, 0.5),
    p95Us: quantileUs(h, 0.95),
    p99Us: quantileUs(h, 0.99),
  };
}

/** A ring of polls covering `seconds`; window() = now minus the oldest poll still inside. */
export class StatsWindow {
  private readonly ring: { t: number; s: EngineStats }[] = [];
  constructor(private readonly seconds: number) {}
  push(s: EngineStats, t = Date.now()): void {
    this.ring.push({ t, s });
    while (this.ring.length > 2 && t - this.ring[1].t >= this.seconds * 1000) this.ring.shift();
  }
  latest(): EngineStats | undefined {
    return this.ring[this.ring.length - 1]?.s;
  }
  previous(): EngineStats | undefined {
    return this.ring[this.ring.length - 2]?.s;
  }
  /** Deltas over the whole window (since the oldest poll kept; from zero while the window fills). */
  window(): Delta[] {
    const last = this.latest();
    if (!last) return [];
    return diff(
      last,
      this.ring.length > 1 && Date.now() - this.ring[0].t >= this.seconds * 1000 ? this.ring[0].s : undefined,
    );
  }
  /** Deltas since the previous poll (about one second). */
  interval(): Delta[] {
    const last = this.latest();
    return last ? diff(last, this.previous()) : [];
  }
}
