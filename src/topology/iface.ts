// Which network interface this host's coordinator binds for its peers, and why.
// Order: ONET_IFNAME (must exist and be up) → the interface the kernel routes the peers through
// (`ip -j route get`, else a longest-prefix match over /proc/net/route) → loopback on one host.
import { execFileSync } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { type Nic, nicUsable, nics as readNics } from './host.js';

export interface IfaceChoice {
  name: string;
  address: string;
  reason: string;
}
export interface Route {
  dev: string;
  src?: string;
}
export interface IfaceOptions {
  env?: NodeJS.ProcessEnv;
  nics?: Nic[]; // default: /sys/class/net
  routeGet?: (addr: string) => Route | null; // default: `ip -j route get`, then /proc/net/route
  procRoute?: string; // default: /proc/net/route
}

/** `ip -j route get ADDR` → {dev, src}; null when `ip` is missing or there is no route. */
export function ipRouteGet(addr: string): Route | null | undefined {
  try {
    const out = execFileSync('ip', ['-j', 'route', 'get', addr], {
      encoding: 'utf8',
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = JSON.parse(out)[0];
    return r?.dev ? { dev: r.dev, src: r.prefsrc } : null;
  } catch (e: any) {
    if (e.code === 'ENOENT') return undefined; // no iproute2: caller falls back to /proc/net/route
    return null; // "Network is unreachable" and the like
  }
}

const ipv4ToLe = (a: string) => a.split('.').reduce((v, o, i) => v | (Number(o) << (8 * i)), 0) >>> 0;

/** Longest-prefix match over a /proc/net/route table (IPv4 only, little-endian hex columns). */
export function procRouteGet(addr: string, table: string): Route | null {
  if (!net.isIPv4(addr)) return null;
  const ip = ipv4ToLe(addr);
  let best: { dev: string; bits: number; metric: number } | null = null;
  for (const line of table.split('\n').slice(1)) {
    const c = line.trim().split(/\s+/);
    if (c.length < 8 || !(parseInt(c[3], 16) & 1)) continue; // RTF_UP
    const dest = parseInt(c[1], 16) >>> 0,
      mask = parseInt(c[7], 16) >>> 0,
      metric = Number(c[6]);
    if ((ip & mask) >>> 0 !== dest) continue;
    const bits = mask.toString(2).split('1').length - 1;
    if (!best || bits > best.bits || (bits === best.bits && metric < best.metric)) best = { dev: c[0], bits, metric };
  }
  if (best) return { dev: best.dev };
  // /proc/net/route has no local table: addresses of this host route over loopback.
  return Object.values(os.networkInterfaces())
    .flat()
    .some((a) => a?.address === addr)
    ? { dev: 'lo' }
    : null;
}

const describe = (n: Nic) =>
  `${n.name} (${n.state}${n.addresses.length ? ', ' + n.addresses.join(' ') : ', no address'})`;
const bare = (cidr: string) => cidr.replace(/\/\d+$/, '');
function addressOf(n: Nic | undefined, src?: string): string {
  if (src) return src;
  const v4 = n?.addresses.map(bare).find((a) => net.isIPv4(a));
  return v4 ?? (n?.addresses[0] ? bare(n.addresses[0]) : '');
}

/** Strip a port ("10.0.0.3:29500", "[fe80::1]:29500") and resolve names to an address. */
async function peerAddress(p: string): Promise<string> {
  const m = /^\[(.+)\](?::\d+)?$/.exec(p) ?? /^([^:]+):\d+$/.exec(p);
  const host = m ? m[1] : p;
  if (net.isIP(host)) return host;
  try {
    return (await dns.lookup(host)).address;
  } catch (e: any) {
    throw new OnetError(
      'EINVAL',
      `peer ${JSON.stringify(p)} does not resolve (${e.code ?? e.message}); pass an address or fix its DNS name`,
    );
  }
}

export async function chooseInterface(peers: string[], o: IfaceOptions = {}): Promise<IfaceChoice> {
  const env = o.env ?? process.env;
  const all = o.nics ?? readNics();
  const list = all.map(describe).join(', ') || 'none';
  const want: string = setting('ifname', env);
  const addrs = await Promise.all(peers.map(peerAddress));

  if (want) {
    const n = all.find((x) => x.name === want);
    if (!n)
      throw new OnetError(
        'EINVAL',
        `ONET_IFNAME=${want}: no such interface on ${os.hostname()}. Interfaces here: ${list}. Set ONET_IFNAME to ` +
          `one of them, or unset it to use the one that routes to the peers.`,
      );
    if (!nicUsable(n))
      throw new OnetError(
        'EINVAL',
        `ONET_IFNAME=${want} is ${n.state}, not up. Interfaces here: ${list}. Bring it up (ip link set ${want} up) ` +
          `or choose another.`,
      );
    const address = addressOf(n);
    if (!address) throw new OnetError('EINVAL', `ONET_IFNAME=${want} has no IP address. Interfaces here: ${list}.`);
    return { name: n.name, address, reason: `${n.name} (${address}): ONET_IFNAME=${want}` };
  }

  let table: string | null = null;
  const route =
    o.routeGet ??
    ((a: string) => {
      const r = ipRouteGet(a);
      if (r !== undefined) return r;
      table ??= fs.readFileSync(o.procRoute ?? '/proc/net/route', 'utf8');
      return procRouteGet(a, table);
    });
  const byDev = new Map<string, { src?: string; peers: string[] }>();
  const unroutable: string[] = [];
  for (const a of addrs) {
    const r = route(a);
    if (!r) {
      unroutable.push(a);
      continue;
    }
    const e = byDev.get(r.dev) ?? { src: r.src, peers: [] };
    e.peers.push(a);
    byDev.set(r.dev, e);
  }
  const loName = all.find((n) => n.kind === 'loopback')?.name ?? 'lo';
  const remote = [...byDev].filter(([dev]) => dev !== loName).sort((x, y) => y[1].peers.length - x[1].peers.length);
  if (remote.length === 0) {
    if (unroutable.length)
      throw new OnetError(
        'EINVAL',
        `no route to peer(s) ${unroutable.join(', ')}. Interfaces here: ${list}. Fix the routing or set ONET_IFNAME.`,
      );
    const why = addrs.length ? `peers ${addrs.join(', ')} are on this host` : 'single host, no peers';
    return {
      name: loName,
      address: addressOf(all.find((n) => n.name === loName)) || '127.0.0.1',
      reason: `${loName} (${addressOf(all.find((n) => n.name === loName)) || '127.0.0.1'}): ${why} (ONET_IFNAME unset)`,
    };
  }
  const [dev, { src, peers: via }] = remote[0];
  const nic = all.find((n) => n.name === dev);
  if (nic && !nicUsable(nic))
    throw new OnetError(
      'EINVAL',
      `peers ${via.join(', ')} route via ${dev}, which is ${nic.state}. Interfaces here: ${list}. Bring it up or set ` +
        `ONET_IFNAME.`,
    );
  const address = addressOf(nic, src);
  const others = remote.slice(1).map(([d, e]) => `${e.peers.join(', ')} via ${d}`);
  if (unroutable.length) others.push(`no route to ${unroutable.join(', ')}`);
  return {
    name: dev,
    address,
    reason:
      `${dev} (${address}): routes to peers ${via.join(', ')}${others.length ? '; ' + others.join('; ') : ''} ` +
      `(ONET_IFNAME unset)`,
  };
}
