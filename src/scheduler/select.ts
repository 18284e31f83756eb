// Algorithm and chunk size per (collective, size range), from the cost model: the table the
// native engine consumes (UCC's "selection by message size range is data"). Ranges are exact
// for the model: adjacent samples that disagree are bisected to the byte where the choice flips.
import {
  allCosts,
  COLLECTIVES,
  type Collective,
  type Cost,
  type CostParams,
  cost,
  oneshotApplies,
} from './costmodel.js';
import type { Overrides } from './override.js';

export interface SelectionEntry {
  coll: Collective;
  maxBytes: number | null; // this entry covers (previous entry's maxBytes, maxBytes]; null = no upper bound
  algo: string;
  chunkBytes: number;
}
/**
 * `algo` is the table's inter-host choice. `oneshot` is set where the engine runs the collective as
 * its one-shot exchange instead (small allreduces; costmodel.oneshotApplies), before the table.
 */
export interface Choice {
  coll: Collective;
  bytes: number;
  algo: string;
  chunkBytes: number;
  forced: boolean;
  cost: Cost;
  alternatives: Cost[];
  oneshot: Cost | null;
}

/** The choice for one (collective, bytes): the cheapest algorithm unless ONET_ALGO forces one. */
export function choose(coll: Collective, bytes: number, p: CostParams, overrides: Overrides = new Map()): Choice {
  const alternatives = allCosts(coll, bytes, p);
  const forced = overrides.get(coll);
  const c = forced ? cost(coll, forced, bytes, p) : alternatives[0];
  const oneshot = oneshotApplies(coll, bytes, p.P) ? cost(coll, 'oneshot', bytes, p) : null;
  return { coll, bytes, algo: c.algo, chunkBytes: c.chunkBytes, forced: !!forced, cost: c, alternatives, oneshot };
}

/** Sizes sampled before bisection: 0, then 2^k and 1.5·2^k up to `top`. */
function samples(top: number): number[] {
  const s = [0, 1];
  for (let x = 2; x <= top; x *= 2) {
    s.push(x);
    if (x * 1.5 <= top) s.push(x * 1.5);
  }
  return s.sort((a, b) => a - b);
}

export interface TableOptions {
  colls?: Collective[];
  overrides?: Overrides;
  topBytes?: number;
}

export function selectionTable(p: CostParams, o: TableOptions = {}): SelectionEntry[] {
  const top = o.topBytes ?? 2 ** 34;
  const out: SelectionEntry[] = [];
  for (const coll of o.colls ?? COLLECTIVES) {
    const key = (n: number) => {
      const c = choose(coll, n, p, o.overrides);
      return `${c.algo}/${c.chunkBytes}`;
    };
    const xs = coll === 'barrier' ? [0] : samples(top);
    const ranges: { max: number; key: string }[] = [];
    let cur = xs[0],
      curKey = key(cur);
    for (const x of xs.slice(1)) {
      const k = key(x);
      while (k !== curKey) {
        let lo = cur,
          hi = x; // key(lo) = curKey ≠ key(x): find the last byte count that keeps curKey
        while (hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          if (key(mid) === curKey) lo = mid;
          else hi = mid;
        }
        ranges.push({ max: lo, key: curKey });
        cur = hi;
        curKey = key(hi);
      }
      cur = x;
    }
    ranges.push({ max: Infinity, key: curKey });
    for (const r of ranges) {
      const [algo, chunk] = r.key.split('/');
      out.push({ coll, maxBytes: Number.isFinite(r.max) ? r.max : null, algo, chunkBytes: Number(chunk) });
    }
  }
  return out;
}

/** The entry of `table` that covers (coll, bytes). */
export function lookup(table: SelectionEntry[], coll: Collective, bytes: number): SelectionEntry | undefined {
  return table.find((e) => e.coll === coll && (e.maxBytes === null || bytes <= e.maxBytes));
}

/** Consecutive entries with the same algorithm, chunk sizes aside: what people read. */
export function algoRanges(
  table: SelectionEntry[],
  coll: Collective,
): { from: number; to: number | null; algo: string }[] {
  const out: { from: number; to: number | null; algo: string }[] = [];
  let from = 0;
  for (const e of table.filter((x) => x.coll === coll)) {
    const last = out[out.length - 1];
    if (last && last.algo === e.algo) last.to = e.maxBytes;
    else out.push({ from, to: e.maxBytes, algo: e.algo });
    from = (e.maxBytes ?? 0) + 1;
  }
  return out;
}
