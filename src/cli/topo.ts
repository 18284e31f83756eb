// `onet topo [--json] [--svg out.svg] [--probe] [--peers h:p,...]`: what this host has, which
// interface it binds and why, and the topology the scheduler will use (ONET_TOPO_FILE or
// discovery + optional probing). `--json` output is a topology file ONET_TOPO_FILE accepts.
import fs from 'node:fs';
import os from 'node:os';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { loadTopology, type Topology, topologyToJson } from '../topology/graph.js';
import { discoverHost } from '../topology/host.js';
import { chooseInterface } from '../topology/iface.js';
import { probeLinks, startProbeServer, tcpPinger } from '../topology/probe.js';
import { renderHost, renderSvg, renderTopology } from '../topology/render.js';

export interface TopoOptions {
  json?: boolean;
  svg?: string;
  probe?: boolean;
  peers?: string;
  topo?: string;
  budgetMs?: string;
  probeServer?: string;
  ranks?: string;
}

async function shmGBs(): Promise<number | undefined> {
  try {
    const { native } = await import('../native/addon.js');
    return Number((native.memcpyBench(16 << 20, 1, 4) / 1e9).toPrecision(3));
  } catch {
    return undefined;
  } // addon not built: the cost model falls back to its default
}

export async function topo(o: TopoOptions): Promise<number> {
  if (o.probeServer !== undefined) {
    const s = await startProbeServer(Number(o.probeServer), '0.0.0.0');
    const a = s.address() as { port: number };
    console.log(
      `onet topo: probe server listening on port ${a.port}; probe it with \`onet topo --probe --peers ` +
        `${os.hostname()}:${a.port}\``,
    );
    await new Promise(() => {}); // until killed
  }
  const peers = (o.peers ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const budgetMs = o.budgetMs ? Number(o.budgetMs) : 3000;
  if (!(budgetMs > 0))
    throw new OnetError(
      'EINVAL',
      `--budget-ms ${JSON.stringify(o.budgetMs)} must be a positive number of milliseconds`,
    );
  const ranks = o.ranks ? Number(o.ranks) : 1;
  if (!Number.isInteger(ranks) || ranks < 1)
    throw new OnetError('EINVAL', `--ranks ${JSON.stringify(o.ranks)} must be an integer ≥ 1`);
  const file = o.topo ?? setting('topoFile');
  const info = discoverHost();
  const iface = await chooseInterface(peers);
  let t: Topology;
  const notes: string[] = [];
  if (file) {
    t = loadTopology(file);
    notes.push(`from ${file}`);
  } else {
    t = {
      version: 1,
      name: `discovered on ${info.hostname}`,
      hosts: [{ name: info.hostname, ranks, address: iface.address, info }],
      links: [],
    };
  }
  if (o.probe) {
    const shm = await shmGBs();
    const self = t.hosts.find((h) => h.name === info.hostname) ?? t.hosts[0];
    if (shm && !file) self.shmGBs = shm;
    notes.push(
      shm ? `shared-memory copy: ${shm} GB/s (1 thread, 16 MiB)` : 'shared-memory copy: not measured (addon not built)',
    );
    // Always probe loopback TCP too: it bounds what this host's TCP stack can do at all.
    const server = await startProbeServer(0, '127.0.0.1');
    const lo = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const pinger = tcpPinger(Math.min(budgetMs, 5000));
    try {
      const r = await probeLinks(self.name, [lo, ...peers], pinger.measure, { budgetMs });
      for (const l of r.links) {
        if (l.b === lo) {
          notes.push(`loopback TCP: ${l.latencyUs} µs one-way, ${l.bandwidthGBs} GB/s`);
          continue;
        }
        if (!t.hosts.some((h) => h.name === l.b)) t.hosts.push({ name: l.b, ranks, address: l.b.replace(/:\d+$/, '') });
        t.links = t.links.filter((x) => !((x.a === l.a && x.b === l.b) || (x.a === l.b && x.b === l.a)));
        t.links.push(l);
      }
      for (const f of r.failed) notes.push(`probe ${f.peer === lo ? 'loopback' : f.peer} failed: ${f.reason}`);
      notes.push(`probing took ${r.elapsedMs.toFixed(0)} ms (budget ${budgetMs} ms per peer)`);
    } finally {
      pinger.close();
      server.close();
    }
  }
  if (o.svg) fs.writeFileSync(o.svg, renderSvg(t));
  if (o.json) {
    process.stdout.write(topologyToJson(t));
    for (const n of notes) console.error(`onet topo: ${n}`);
    return 0;
  }
  console.log(renderHost(info, iface));
  console.log('');
  console.log(renderTopology(t));
  for (const n of notes) console.log(`note: ${n}`);
  if (o.svg) console.log(`wrote ${o.svg}`);
  return 0;
}
