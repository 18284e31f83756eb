// `--simulate 1024x8`: what the cost model predicts for a job of that shape, per size, in the
// nccl-tests vocabulary (algbw = bytes / time; busbw = algbw × the collective's traffic factor).
import { OnetError } from '../errors.js';
import { busbwFactor } from '../gen/enums.js';
import type { Collective, CostParams } from './costmodel.js';
import { fmtBytes, fmtUs, table } from './format.js';
import type { Overrides } from './override.js';
import { choose } from './select.js';

export function parseShape(text: string): { hosts: number; ppn: number } {
  const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(text);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new OnetError('EINVAL', `--simulate ${JSON.stringify(text)} is not HOSTSxRANKS_PER_HOST (example: 1024x8)`);
  return { hosts: Number(m[1]), ppn: Number(m[2]) };
}

/** nccl-tests' bus-bandwidth factor for N ranks (spec/enums.json). */
export function busFactor(coll: Collective, N: number): number {
  return busbwFactor(coll, N);
}

export interface SimRow {
  bytes: number;
  algo: string;
  chunkBytes: number;
  timeUs: number;
  algBwGBs: number;
  busBwGBs: number;
}

export function simulate(coll: Collective, p: CostParams, sizes: number[], overrides: Overrides = new Map()): SimRow[] {
  return sizes.map((bytes) => {
    const c = choose(coll, bytes, p, overrides);
    const algBw = c.cost.totalUs > 0 ? bytes / c.cost.totalUs / 1e3 : 0;
    return {
      bytes,
      algo: c.algo,
      chunkBytes: c.chunkBytes,
      timeUs: c.cost.totalUs,
      algBwGBs: algBw,
      busBwGBs: algBw * busFactor(coll, p.P * p.m),
    };
  });
}

/** 8 B … `max` by ×4, like `onet bench`. */
export function sweepSizes(min = 8, max = 1 << 30): number[] {
  const out: number[] = [];
  for (let x = min; x <= max; x *= 4) out.push(x);
  return out;
}

export function formatSimulation(coll: Collective, p: CostParams, rows: SimRow[]): string {
  const head =
    `${coll} predicted on ${p.P} hosts × ${p.m} ranks/host (${p.P * p.m} ranks) by the cost model, not ` + `measured`;
  return (
    head +
    '\n' +
    table([
      ['size', 'algorithm', 'chunk', 'time', 'algbw GB/s', 'busbw GB/s'],
      ...rows.map((r) => [
        fmtBytes(r.bytes),
        r.algo,
        fmtBytes(r.chunkBytes),
        fmtUs(r.timeUs),
        r.algBwGBs.toFixed(3),
        r.busBwGBs.toFixed(3),
      ]),
    ])
  );
}
