// Text that says which algorithm the scheduler picks for one (collective, size), why, and
// what every alternative would cost — the output of `onet explain` and of ONET_EXPLAIN=1.
import { summarize, type Topology } from '../topology/graph.js';
import { BYTES_MEANING, type Collective, type CostParams } from './costmodel.js';
import { fmtBytes, fmtGBs, fmtUs, table } from './format.js';
import type { Overrides } from './override.js';
import { algoRanges, choose, selectionTable } from './select.js';

export function explain(
  coll: Collective,
  bytes: number,
  topo: Topology,
  p: CostParams,
  overrides: Overrides = new Map(),
): string {
  const s = summarize(topo);
  const c = choose(coll, bytes, p, overrides);
  const best = c.alternatives[0];
  const out: string[] = [];
  out.push(
    `${coll} of ${fmtBytes(bytes)} (${BYTES_MEANING[coll]}) on ${p.P} host${p.P > 1 ? 's' : ''} × ${p.m} ` +
      `rank${p.m > 1 ? 's' : ''}/host = ${p.P * p.m} ranks`,
  );
  out.push(`topology: ${topo.name ?? 'unnamed'}`);
  if (p.P > 1)
    out.push(
      `links: α = ${fmtUs(p.alphaUs)}, bandwidth ${fmtGBs(s.bandwidthGBs)} (slowest of ${s.links} ` +
        `link${s.links > 1 ? 's' : ''}; ${s.measured ? 'measured' : 'assumed, not measured'}); shared memory ` +
        `${s.shmGBs} GB/s`,
    );
  else out.push(`one host: only the shared-memory phases run; shared memory ${s.shmGBs} GB/s`);
  const share = c.cost.totalUs > 0 ? (x: number) => Math.round((100 * x) / c.cost.totalUs) : () => 0;
  const bound = c.cost.latencyUs >= c.cost.bandwidthUs + c.cost.reduceUs ? 'latency-bound' : 'bandwidth-bound';
  if (c.forced) {
    const slower = best.totalUs > 0 ? c.cost.totalUs / best.totalUs : 1;
    out.push(
      `chosen: ${c.algo}, chunk ${fmtBytes(c.chunkBytes)}: forced by ONET_ALGO (the model prefers ${best.algo}; ` +
        `${c.algo} is predicted ${slower.toFixed(2)}× its time)`,
    );
  } else {
    const second = c.alternatives[1];
    const margin = second
      ? `; next best ${second.algo} at ${fmtUs(second.totalUs)} ` +
        `(${(second.totalUs / Math.max(c.cost.totalUs, 1e-9)).toFixed(2)}×)`
      : '';
    out.push(`chosen: ${c.algo}, chunk ${fmtBytes(c.chunkBytes)}: cheapest predicted time${margin}`);
  }
  out.push(
    `predicted: ${fmtUs(c.cost.totalUs)} = latency ${fmtUs(c.cost.latencyUs)} (${share(c.cost.latencyUs)}%) + ` +
      `bandwidth ${fmtUs(c.cost.bandwidthUs)} (${share(c.cost.bandwidthUs)}%) + reduce ${fmtUs(c.cost.reduceUs)} ` +
      `(${share(c.cost.reduceUs)}%) + local ${fmtUs(c.cost.localUs)} (${share(c.cost.localUs)}%); ` +
      `${p.P > 1 ? bound : 'local only'}`,
  );
  out.push(`model: ${c.cost.formula}`);
  if (c.oneshot) {
    out.push(
      `engine: runs this size as its one-shot exchange (header with the data, one round) before the table, ` +
        `predicted ${fmtUs(c.oneshot.totalUs)}; model: ${c.oneshot.formula}`,
    );
  }
  out.push('');
  const rows = [['algorithm', 'predicted', 'vs best', 'steps', 'latency', 'bandwidth', 'reduce', 'local', 'chunk']];
  for (const a of c.alternatives) {
    rows.push([
      a.algo + (a.algo === c.algo ? ' *' : ''),
      fmtUs(a.totalUs),
      `${(a.totalUs / Math.max(best.totalUs, 1e-9)).toFixed(2)}×`,
      String(Math.round(a.steps)),
      fmtUs(a.latencyUs),
      fmtUs(a.bandwidthUs),
      fmtUs(a.reduceUs),
      fmtUs(a.localUs),
      fmtBytes(a.chunkBytes),
    ]);
  }
  out.push(table(rows));
  out.push('');
  const ranges = algoRanges(selectionTable(p, { colls: [coll], overrides }), coll);
  out.push(
    `${coll} selection by size: ` + ranges.map((r) => `${fmtBytes(r.from)}…${fmtBytes(r.to)} ${r.algo}`).join(', '),
  );
  return out.join('\n');
}
