// The job's topology as a typed graph: hosts (with their ranks and local shared-memory
// bandwidth) and the links between them. Dumped with `onet topo --json`, reloaded from
// ONET_TOPO_FILE (NCCL's NCCL_TOPO_DUMP_FILE / NCCL_TOPO_FILE idea), and the only input the
// scheduler's cost model reads, so a recorded topology reproduces a choice exactly.
import fs from 'node:fs';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import type { HostInfo } from './host.js';

export interface TopoHost {
  name: string;
  ranks: number; // local ranks on this host
  address?: string; // address its coordinator binds for peers
  shmGBs?: number; // local copy bandwidth (GB/s) measured or assumed for the intra-host phases
  info?: HostInfo; // discovery output, when this host was discovered rather than written by hand
}
export interface TopoLink {
  a: string;
  b: string;
  latencyUs: number;
  bandwidthGBs: number;
  measured: boolean;
}
export interface LinkSpec {
  latencyUs: number;
  bandwidthGBs: number;
}
export interface Topology {
  version: 1;
  name?: string;
  hosts: TopoHost[];
  links: TopoLink[];
  /** Every host pair without an explicit link (a switch); lets a 1024-host file stay small. */
  defaultLink?: LinkSpec;
}

/** Assumed when neither a topology file nor a probe says otherwise: 10 GbE through one switch, TCP. */
export const DEFAULT_LINK: LinkSpec = { latencyUs: 50, bandwidthGBs: 1.25 };
/** Assumed local copy bandwidth; docs/engine.md measures 13–15 GB/s on the 2-core CI machine. */
export const DEFAULT_SHM_GBS = 10;

function bad(where: string, what: string): never {
  throw new OnetError('EINVAL', `${where}: ${what}. See docs/scheduling.md ("Topology files") for the format.`);
}
const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** Check a parsed JSON value and return it as a Topology; errors name the field and the file. */
export function validateTopology(x: any, where = 'topology'): Topology {
  if (!x || typeof x !== 'object') bad(where, 'is not a JSON object');
  if (x.version !== 1) bad(where, `"version" must be 1, got ${JSON.stringify(x.version)}`);
  if (!Array.isArray(x.hosts) || x.hosts.length === 0) bad(where, '"hosts" must be a non-empty array');
  const names = new Set<string>();
  x.hosts.forEach((h: any, i: number) => {
    if (!h || typeof h.name !== 'string' || !h.name) bad(where, `hosts[${i}].name must be a non-empty string`);
    if (names.has(h.name)) bad(where, `hosts[${i}].name ${JSON.stringify(h.name)} appears twice`);
    names.add(h.name);
    if (!Number.isInteger(h.ranks) || h.ranks < 1)
      bad(where, `hosts[${i}].ranks must be an integer ≥ 1, got ${JSON.stringify(h.ranks)}`);
    if (h.shmGBs !== undefined && !positive(h.shmGBs)) bad(where, `hosts[${i}].shmGBs must be a positive number`);
  });
  if (!Array.isArray(x.links)) bad(where, '"links" must be an array (may be empty with "defaultLink")');
  x.links.forEach((l: any, i: number) => {
    for (const end of ['a', 'b'])
      if (!names.has(l?.[end])) bad(where, `links[${i}].${end} ${JSON.stringify(l?.[end])} is not one of the hosts`);
    if (l.a === l.b) bad(where, `links[${i}] joins ${l.a} to itself`);
    if (!positive(l.latencyUs)) bad(where, `links[${i}].latencyUs must be a positive number of microseconds`);
    if (!positive(l.bandwidthGBs))
      bad(where, `links[${i}].bandwidthGBs must be a positive number of GB/s (10 Gbit/s = 1.25)`);
    if (typeof l.measured !== 'boolean') bad(where, `links[${i}].measured must be true or false`);
  });
  if (x.defaultLink !== undefined && (!positive(x.defaultLink?.latencyUs) || !positive(x.defaultLink?.bandwidthGBs)))
    bad(where, '"defaultLink" needs positive latencyUs and bandwidthGBs');
  if (x.hosts.length > 1 && x.links.length === 0 && !x.defaultLink)
    bad(where, `${x.hosts.length} hosts but no links and no "defaultLink"`);
  return x as Topology;
}

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: any) {
    throw new OnetError(
      'EINVAL',
      `cannot read topology file ${file}: ${e.code ?? e.message}; write one with \`onet topo --json > topo.json\``,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e: any) {
    throw new OnetError('EINVAL', `${file} is not JSON: ${e.message}`);
  }
  return validateTopology(json, file);
}

export function topologyToJson(t: Topology): string {
  return JSON.stringify(t, null, 2) + '\n';
}

/** The topology in ONET_TOPO_FILE, or null when unset. */
export function topologyFromEnv(env: NodeJS.ProcessEnv = process.env): Topology | null {
  const file: string = setting('topoFile', env);
  return file ? loadTopology(file) : null;
}

/** `hosts` hosts of `ppn` ranks behind one switch: the shape `--simulate 1024x8` and `--hosts` build. */
export function uniformTopology(
  hosts: number,
  ppn: number,
  link: LinkSpec = DEFAULT_LINK,
  shmGBs = DEFAULT_SHM_GBS,
): Topology {
  if (!Number.isInteger(hosts) || hosts < 1)
    throw new OnetError('EINVAL', `hosts must be an integer ≥ 1, got ${hosts}`);
  if (!Number.isInteger(ppn) || ppn < 1)
    throw new OnetError('EINVAL', `ranks per host must be an integer ≥ 1, got ${ppn}`);
  return {
    version: 1,
    name: `${hosts} hosts × ${ppn} ranks, uniform`,
    hosts: Array.from({ length: hosts }, (_, i) => ({ name: `host${i}`, ranks: ppn, shmGBs })),
    links: [],
    defaultLink: { ...link },
  };
}

export interface LinkSummary {
  alphaUs: number; // latency of the slowest link: every step of a synchronous algorithm waits for it
  bandwidthGBs: number; // bandwidth of the narrowest link: a ring or tree runs at its slowest hop
  links: number; // links considered (explicit + implied by defaultLink)
  measured: boolean; // true when every explicit link was measured and no default is implied
  shmGBs: number; // slowest host's local copy bandwidth
  ppn: number; // most ranks on one host (the local phases wait for the busiest host)
}

/** The α, bandwidth and local figures the cost model uses for a whole topology. */
export function summarize(t: Topology): LinkSummary {
  const P = t.hosts.length;
  const pairs = (P * (P - 1)) / 2;
  const specs: LinkSpec[] = [...t.links];
  const implied = t.defaultLink && t.links.length < pairs ? pairs - t.links.length : 0;
  if (implied) specs.push(t.defaultLink!);
  const alphaUs = specs.length ? Math.max(...specs.map((l) => l.latencyUs)) : 0;
  const bandwidthGBs = specs.length ? Math.min(...specs.map((l) => l.bandwidthGBs)) : Infinity;
  return {
    alphaUs,
    bandwidthGBs,
    links: t.links.length + implied,
    measured: t.links.length > 0 && !implied && t.links.every((l) => l.measured),
    shmGBs: Math.min(...t.hosts.map((h) => h.shmGBs ?? DEFAULT_SHM_GBS)),
    ppn: Math.max(...t.hosts.map((h) => h.ranks)),
  };
}

/** The link between two hosts: explicit, else the default, else undefined. */
export function linkBetween(t: Topology, a: string, b: string): (LinkSpec & { measured: boolean }) | undefined {
  const l = t.links.find((x) => (x.a === a && x.b === b) || (x.a === b && x.b === a));
  return l ?? (t.defaultLink ? { ...t.defaultLink, measured: false } : undefined);
}
