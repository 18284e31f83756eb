// The topology for people: a text table (`onet topo`) and an SVG picture (`onet topo --svg`)
// with hosts on a circle and every link labelled with its bandwidth.
import { fmtUs, table } from '../scheduler/format.js';
import type { Topology } from './graph.js';
import type { HostInfo } from './host.js';
import type { IfaceChoice } from './iface.js';

const gib = (b: number | null) => (b === null ? '?' : `${(b / 2 ** 30).toFixed(1)} GiB`);
const gbs = (x: number) => `${Number(x.toPrecision(3))} GB/s`;

export function renderHost(h: HostInfo, iface?: IfaceChoice): string {
  const out = [
    `host ${h.hostname}: ${h.cores} cores, ${gib(h.memoryBytes)} memory, ${h.numa.length} NUMA node(s)` +
      (h.numa.length
        ? ' (' + h.numa.map((n) => `node${n.id}: cpus ${n.cpus}, ${gib(n.memBytes)}`).join('; ') + ')'
        : ''),
  ];
  out.push(
    table([
      ['nic', 'kind', 'state', 'speed', 'mtu', 'addresses'],
      ...h.nics.map((n) => [
        n.name,
        n.kind,
        n.state,
        n.speedMbps ? `${n.speedMbps / 1000} Gbit/s` : '-',
        String(n.mtu ?? '-'),
        n.addresses.join(' ') || '-',
      ]),
    ]),
  );
  out.push(
    h.ib.length
      ? table([
          ['ib port', 'state', 'rate', 'link layer', 'netdev'],
          ...h.ib.map((p) => [
            `${p.device}/${p.port}`,
            p.state,
            p.rateGbps ? `${p.rateGbps} Gbit/s` : '-',
            p.linkLayer,
            p.netdev ?? '-',
          ]),
        ])
      : 'InfiniBand: none (/sys/class/infiniband is empty or absent)',
  );
  out.push(
    h.gpus.length
      ? 'GPUs: ' +
          h.gpus
            .map((g) => `${g.index}: ${g.name}${g.memoryMiB ? ` (${g.memoryMiB} MiB)` : ''} ${g.busId} [${g.source}]`)
            .join('; ')
      : 'GPUs: none',
  );
  if (iface) out.push(`bind: ${iface.reason}`);
  return out.join('\n');
}

export function renderTopology(t: Topology, maxLinks = 40): string {
  const out = [
    `topology: ${t.name ?? 'unnamed'} — ${t.hosts.length} host(s), ${t.hosts.reduce((s, h) => s + h.ranks, 0)} ` +
      `rank(s)`,
  ];
  const hosts = t.hosts.length > maxLinks ? t.hosts.slice(0, maxLinks) : t.hosts;
  out.push(
    table([
      ['host', 'ranks', 'address', 'shm'],
      ...hosts.map((h) => [h.name, String(h.ranks), h.address ?? '-', h.shmGBs ? gbs(h.shmGBs) : 'default']),
    ]),
  );
  if (hosts.length < t.hosts.length) out.push(`… ${t.hosts.length - hosts.length} more hosts`);
  if (t.links.length) {
    out.push(
      table([
        ['link', 'latency', 'bandwidth', 'measured'],
        ...t.links
          .slice(0, maxLinks)
          .map((l) => [
            `${l.a} — ${l.b}`,
            fmtUs(l.latencyUs),
            `${gbs(l.bandwidthGBs)} (${Number((l.bandwidthGBs * 8).toPrecision(3))} Gbit/s)`,
            l.measured ? 'yes' : 'no',
          ]),
      ]),
    );
    if (t.links.length > maxLinks) out.push(`… ${t.links.length - maxLinks} more links`);
  }
  if (t.defaultLink)
    out.push(
      `every other host pair: ${fmtUs(t.defaultLink.latencyUs)}, ${gbs(t.defaultLink.bandwidthGBs)} (defaultLink, ` +
        `assumed)`,
    );
  return out.join('\n');
}

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Hosts on a circle (at most `maxHosts` drawn), links as lines labelled with bandwidth. */
export function renderSvg(t: Topology, maxHosts = 32): string {
  const W = 720,
    H = 740,
    cx = W / 2,
    cy = H / 2 + 20,
    R = 260;
  const shown = t.hosts.slice(0, maxHosts);
  const pos = new Map(
    shown.map((h, i) => {
      const a = (2 * Math.PI * i) / shown.length - Math.PI / 2;
      return [
        h.name,
        { x: shown.length === 1 ? cx : cx + R * Math.cos(a), y: shown.length === 1 ? cy : cy + R * Math.sin(a) },
      ];
    }),
  );
  const lines: string[] = [];
  const placed: { x: number; y: number }[] = [];
  const edge = (a: string, b: string, bw: number, lat: number, measured: boolean, implied: boolean) => {
    const p = pos.get(a),
      q = pos.get(b);
    if (!p || !q) return;
    // Label at the midpoint unless another label sits there (crossing diagonals): slide along the line.
    let mx = 0,
      my = 0;
    for (const f of [0.5, 0.35, 0.65, 0.25, 0.75]) {
      mx = p.x + (q.x - p.x) * f;
      my = p.y + (q.y - p.y) * f;
      if (!placed.some((o) => Math.abs(o.x - mx) < 60 && Math.abs(o.y - my) < 14)) break;
    }
    placed.push({ x: mx, y: my });
    lines.push(
      `<g><title>${esc(`${a} — ${b}: ${gbs(bw)}, ${fmtUs(lat)}${measured ? ', measured' : ''}`)}</title>` +
        `<line x1="${p.x.toFixed(1)}" y1="${p.y.toFixed(1)}" x2="${q.x.toFixed(1)}" y2="${q.y.toFixed(1)}" ` +
        `stroke="${measured ? '#1f6feb' : '#888'}" ` +
        `stroke-width="${Math.max(1, Math.min(6, Math.log2(1 + bw * 8)))}"` +
        `${implied ? ' stroke-dasharray="6 4"' : ''}/>` +
        `<text x="${mx.toFixed(1)}" y="${(my - 4).toFixed(1)}" font-size="11" text-anchor="middle" fill="#333" ` +
        `stroke="white" stroke-width="3" paint-order="stroke">${esc(gbs(bw))}</text></g>`,
    );
  };
  for (const l of t.links) edge(l.a, l.b, l.bandwidthGBs, l.latencyUs, l.measured, false);
  if (t.defaultLink && shown.length <= 12) {
    const have = new Set(t.links.map((l) => [l.a, l.b].sort().join('\0')));
    for (let i = 0; i < shown.length; i++)
      for (let j = i + 1; j < shown.length; j++)
        if (!have.has([shown[i].name, shown[j].name].sort().join('\0')))
          edge(shown[i].name, shown[j].name, t.defaultLink.bandwidthGBs, t.defaultLink.latencyUs, false, true);
  }
  const nodes = shown.map((h) => {
    const p = pos.get(h.name)!;
    return (
      `<g><circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="26" fill="#f6f8fa" stroke="#24292f"/>` +
      `<text x="${p.x.toFixed(1)}" y="${(p.y - 2).toFixed(1)}" font-size="11" ` +
      `text-anchor="middle">${esc(h.name)}</text>` +
      `<text x="${p.x.toFixed(1)}" y="${(p.y + 12).toFixed(1)}" font-size="10" text-anchor="middle" ` +
      `fill="#555">${h.ranks} rank${h.ranks > 1 ? 's' : ''}</text></g>`
    );
  });
  const notes = [
    `${esc(t.name ?? 'topology')}: ${t.hosts.length} host${t.hosts.length > 1 ? 's' : ''}`,
    'links labelled by bandwidth; blue = measured, grey = assumed, dashed = defaultLink',
  ];
  if (shown.length < t.hosts.length) notes.push(`showing ${shown.length} of ${t.hosts.length} hosts`);
  if (t.defaultLink && shown.length > 12)
    notes.push(`every unlisted pair: ${esc(gbs(t.defaultLink.bandwidthGBs))}, ${esc(fmtUs(t.defaultLink.latencyUs))}`);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n` +
    notes.map((n, i) => `<text x="12" y="${20 + 16 * i}" font-size="13">${n}</text>`).join('\n') +
    '\n' +
    lines.join('\n') +
    '\n' +
    nodes.join('\n') +
    '\n</svg>\n'
  );
}
