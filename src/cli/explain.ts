// `onet explain --size 64MiB --op allreduce [--hosts N --ppn M] [--simulate 1024x8] [--topo f]`:
// the scheduler's choice for one collective and size, and the predicted time of every alternative.
import { parseBytes, setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { CATALOGUE, COLLECTIVES, type Collective, paramsFromTopology } from '../scheduler/costmodel.js';
import { explain as explainText } from '../scheduler/explain.js';
import { overridesFromEnv } from '../scheduler/override.js';
import { choose, selectionTable } from '../scheduler/select.js';
import { formatSimulation, parseShape, simulate, sweepSizes } from '../scheduler/simulate.js';
import {
  DEFAULT_LINK,
  DEFAULT_SHM_GBS,
  loadTopology,
  summarize,
  type Topology,
  uniformTopology,
} from '../topology/graph.js';
import { compressionText, explainCompression } from './explain_compression.js';

export interface ExplainOptions {
  size?: string;
  op?: string;
  hosts?: string;
  ppn?: string;
  simulate?: string;
  topo?: string;
  json?: boolean;
  table?: boolean;
}

const posInt = (text: string | undefined, flag: string) => {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new OnetError('EINVAL', `${flag} ${JSON.stringify(text)} must be an integer ≥ 1`);
  return Number(text);
};

/**
 * The topology explain reasons about: --simulate / --hosts shape with the file's link figures, else the file,
 * else one host.
 */
export function explainTopology(o: ExplainOptions): Topology {
  const file = o.topo ?? setting('topoFile');
  const base = file ? loadTopology(file) : null;
  let hosts = posInt(o.hosts, '--hosts'),
    ppn = posInt(o.ppn, '--ppn');
  if (o.simulate) ({ hosts, ppn } = parseShape(o.simulate));
  if (hosts !== undefined) {
    const s = base ? summarize(base) : null;
    const link = s && base!.hosts.length > 1 ? { latencyUs: s.alphaUs, bandwidthGBs: s.bandwidthGBs } : DEFAULT_LINK;
    const t = uniformTopology(hosts, ppn ?? s?.ppn ?? 1, link, s?.shmGBs ?? DEFAULT_SHM_GBS);
    t.name +=
      base && base.hosts.length > 1
        ? `, link figures from ${file}`
        : `, assumed link ${DEFAULT_LINK.latencyUs} µs / ${DEFAULT_LINK.bandwidthGBs} GB/s (10 GbE); pass --topo ` +
          `for real ones`;
    return t;
  }
  if (base) {
    if (ppn !== undefined) for (const h of base.hosts) h.ranks = ppn;
    return base;
  }
  return uniformTopology(1, ppn ?? 1);
}

export async function explainCmd(o: ExplainOptions): Promise<number> {
  const op = (o.op ?? 'allreduce') as Collective;
  if (!COLLECTIVES.includes(op))
    throw new OnetError(
      'EINVAL',
      `--op ${JSON.stringify(o.op)} is not a collective; use one of ${COLLECTIVES.join(', ')}`,
    );
  const bytes = parseBytes(o.size ?? '64MiB', '--size');
  const topo = explainTopology(o);
  const p = paramsFromTopology(topo);
  const overrides = overridesFromEnv();
  if (o.table) {
    console.log(JSON.stringify(selectionTable(p, { overrides }), null, 2));
    return 0;
  }
  if (o.json) {
    const c = choose(op, bytes, p, overrides);
    console.log(
      JSON.stringify(
        {
          topology: topo.name,
          params: p,
          choice: { algo: c.algo, chunkBytes: c.chunkBytes, forced: c.forced, predictedUs: c.cost.totalUs },
          alternatives: c.alternatives,
          ...(op === 'allreduce' ? { compression: explainCompression(bytes, p) } : {}),
          selection: selectionTable(p, { colls: [op], overrides }),
          ...(o.simulate ? { simulation: simulate(op, p, sweepSizes(), overrides) } : {}),
        },
        null,
        2,
      ),
    );
    return 0;
  }
  if (o.simulate) {
    console.log(formatSimulation(op, p, simulate(op, p, sweepSizes(), overrides)));
    console.log('');
  }
  console.log(explainText(op, bytes, topo, p, overrides));
  if (op === 'allreduce') console.log(compressionText(explainCompression(bytes, p)));
  console.log(
    `\nalgorithms: ${COLLECTIVES.map((c) => `${c} ${CATALOGUE[c].join('|')}`).join('; ')}; force one with ` +
      `ONET_ALGO=${op}:${CATALOGUE[op][0]}`,
  );
  return 0;
}
