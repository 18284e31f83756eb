// What a coordinator calls once the topology is known: the selection table for the native
// engine, with ONET_ALGO applied, and (ONET_EXPLAIN=1) a summary to log.
import { setting } from '../config/settings.js';
import type { Topology } from '../topology/graph.js';
import { COLLECTIVES, type CostParams, paramsFromTopology } from './costmodel.js';
import { fmtBytes, fmtUs } from './format.js';
import { overridesFromEnv } from './override.js';
import { algoRanges, choose, type SelectionEntry, selectionTable } from './select.js';

export interface Plan {
  params: CostParams;
  table: SelectionEntry[];
  explanation: string | null;
}

export function planFromEnv(topo: Topology, env: NodeJS.ProcessEnv = process.env): Plan {
  const params = paramsFromTopology(topo);
  const overrides = overridesFromEnv(env);
  const table = selectionTable(params, { overrides });
  let explanation: string | null = null;
  if (setting('explain', env)) {
    const lines = [
      `scheduler: ${topo.name ?? 'topology'}; ${params.P} hosts × ${params.m} ranks, α ${fmtUs(params.alphaUs)}, ` +
        `${(1 / (params.betaUs * 1e3)).toPrecision(3)} GB/s` +
        (overrides.size ? `; ONET_ALGO forces ${[...overrides].map(([c, a]) => `${c}:${a}`).join(',')}` : ''),
    ];
    for (const coll of COLLECTIVES) {
      const parts = algoRanges(table, coll).map((r) => {
        // A representative size inside the range: its geometric middle, or 1 GiB (4× its start) when open-ended.
        const at =
          coll === 'barrier'
            ? 0
            : r.to === null
              ? Math.max(4 * r.from, 1 << 30)
              : Math.floor(Math.sqrt(Math.max(r.from, 8) * Math.max(r.to, 8)));
        const alts = choose(coll, at, params, overrides)
          .alternatives.map((a) => `${a.algo} ${fmtUs(a.totalUs)}`)
          .join(', ');
        return `${fmtBytes(r.from)}…${fmtBytes(r.to)} ${r.algo} (at ${fmtBytes(at)}: ${alts})`;
      });
      lines.push(`  ${coll}: ${parts.join('; ')}`);
    }
    explanation = lines.join('\n');
  }
  return { params, table, explanation };
}
