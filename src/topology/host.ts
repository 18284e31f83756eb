// What one host has: cores, NUMA nodes, memory, NICs, InfiniBand ports and GPUs, read from
// /sys, /proc and (when installed) nvidia-smi. Every reader is bounded and never throws for a
// missing file: a container without /sys/class/infiniband simply has no IB ports.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Nic {
  name: string;
  kind: 'loopback' | 'ethernet' | 'infiniband' | 'virtual' | 'other';
  state: string; // operstate: up, down, unknown (loopback), dormant, ...
  speedMbps: number | null; // null when the driver does not report it (virtual, loopback, link down)
  mtu: number | null;
  mac: string;
  addresses: string[]; // "10.0.0.2/24", "fe80::1/64"
}
export interface IbPort {
  device: string;
  port: number;
  state: string;
  rateGbps: number | null;
  linkLayer: string;
  netdev: string | null;
}
export interface NumaNode {
  id: number;
  cpus: string;
  memBytes: number | null;
}
export interface Gpu {
  index: number;
  name: string;
  memoryMiB: number | null;
  busId: string;
  source: 'nvidia-smi' | 'procfs';
}
export interface HostInfo {
  hostname: string;
  cores: number;
  memoryBytes: number;
  numa: NumaNode[];
  nics: Nic[];
  ib: IbPort[];
  gpus: Gpu[];
}

export interface DiscoverOptions {
  sysRoot?: string;
  procRoot?: string;
  nvidiaSmi?: string | null;
}

const read = (p: string): string | null => {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};
const list = (p: string): string[] => {
  try {
    return fs.readdirSync(p).sort();
  } catch {
    return [];
  }
};
const num = (s: string | null): number | null => (s !== null && /^-?\d+$/.test(s) ? Number(s) : null);

/** Everything this host has; `sysRoot`/`procRoot` point elsewhere for recorded trees. */
export function discoverHost(o: DiscoverOptions = {}): HostInfo {
  const sys = o.sysRoot ?? '/sys',
    proc = o.procRoot ?? '/proc';
  return {
    hostname: os.hostname(),
    cores: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    memoryBytes: os.totalmem(),
    numa: numaNodes(sys),
    nics: nics(sys),
    ib: ibPorts(sys),
    gpus: gpus(proc, o.nvidiaSmi === undefined ? 'nvidia-smi' : o.nvidiaSmi),
  };
}

export function numaNodes(sys = '/sys'): NumaNode[] {
  const dir = path.join(sys, 'devices/system/node');
  return list(dir)
    .filter((d) => /^node\d+$/.test(d))
    .map((d) => {
      const mem = /MemTotal:\s+(\d+) kB/.exec(read(path.join(dir, d, 'meminfo')) ?? '');
      return {
        id: Number(d.slice(4)),
        cpus: read(path.join(dir, d, 'cpulist')) ?? '',
        memBytes: mem ? Number(mem[1]) * 1024 : null,
      };
    })
    .sort((a, b) => a.id - b.id);
}

export function nics(sys = '/sys'): Nic[] {
  const dir = path.join(sys, 'class/net');
  const addrs = os.networkInterfaces();
  return list(dir).map((name) => {
    const f = (k: string) => read(path.join(dir, name, k));
    const type = num(f('type')); // ARPHRD_*: 1 ether, 32 infiniband, 772 loopback
    let real = '';
    try {
      real = fs.realpathSync(path.join(dir, name));
    } catch {
      /* recorded trees may hold plain dirs */
    }
    const kind: Nic['kind'] =
      type === 772
        ? 'loopback'
        : type === 32
          ? 'infiniband'
          : real.includes('/virtual/')
            ? 'virtual'
            : type === 1
              ? 'ethernet'
              : 'other';
    const speed = num(f('speed')); // reading it fails with EINVAL on virtual links; -1 when the link is down
    return {
      name,
      kind,
      state: f('operstate') ?? 'unknown',
      speedMbps: speed !== null && speed > 0 ? speed : null,
      mtu: num(f('mtu')),
      mac: f('address') ?? '',
      addresses: (addrs[name] ?? []).map((a) => a.cidr ?? a.address),
    };
  });
}

/** A NIC is usable when its link is up; loopback reports "unknown" and is usable too. */
export function nicUsable(n: Nic): boolean {
  return n.state === 'up' || (n.kind === 'loopback' && n.state === 'unknown');
}

export function ibPorts(sys = '/sys'): IbPort[] {
  const dir = path.join(sys, 'class/infiniband');
  const out: IbPort[] = [];
  for (const dev of list(dir)) {
    const netdevs = list(path.join(dir, dev, 'device/net'));
    for (const p of list(path.join(dir, dev, 'ports'))) {
      const f = (k: string) => read(path.join(dir, dev, 'ports', p, k));
      const rate = /^(\d+(?:\.\d+)?) Gb\/sec/.exec(f('rate') ?? ''); // "100 Gb/sec (4X EDR)"
      out.push({
        device: dev,
        port: Number(p),
        state: (f('state') ?? 'unknown').replace(/^\d+:\s*/, '').toLowerCase(), // "4: ACTIVE" → "active"
        rateGbps: rate ? Number(rate[1]) : null,
        linkLayer: f('link_layer') ?? 'unknown',
        netdev: netdevs[0] ?? null,
      });
    }
  }
  return out;
}

export function gpus(proc = '/proc', smi: string | null = 'nvidia-smi'): Gpu[] {
  if (smi) {
    try {
      const csv = execFileSync(
        smi,
        ['--query-gpu=index,name,memory.total,pci.bus_id', '--format=csv,noheader,nounits'],
        { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const rows = csv
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(',').map((s) => s.trim()));
      if (rows.length)
        return rows.map(([i, name, mem, bus]) => ({
          index: Number(i),
          name,
          memoryMiB: num(mem),
          busId: bus,
          source: 'nvidia-smi' as const,
        }));
    } catch {
      /* not installed or no driver: fall through to procfs */
    }
  }
  const dir = path.join(proc, 'driver/nvidia/gpus');
  return list(dir).map((bus, index) => {
    const info = read(path.join(dir, bus, 'information')) ?? '';
    const model = /^Model:\s*(.+)$/m.exec(info);
    return {
      index,
      name: model ? model[1].trim() : 'NVIDIA GPU',
      memoryMiB: null,
      busId: bus,
      source: 'procfs' as const,
    };
  });
}
