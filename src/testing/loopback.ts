// Several "hosts" on one machine without root: host i is the address 127.A.B.(i+1) (all of 127/8
// is loopback on Linux), its coordinator binds only that address (ONET_IFNAME takes an address)
// and keeps its own run directory (runJob gives each host one). The cross-host code paths are the
// real ones (bootstrap, mesh, heartbeats, header exchange, inter-host algorithms); what a network
// namespace adds beyond that is only the kernel's link (netem shaping, a link going down), which
// the fault proxy (fault_proxy.ts) replaces: with `proxy`, host i listens on a fixed port and
// advertises the proxy's address for it (ONET_TEST_ADVERTISE), so every inter-host byte passes
// through the proxy. A.B come from this process's pid, so concurrent harnesses do not collide.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { FaultProxy } from './fault_proxy.js';
import type { JobHosts } from './job.js';

export interface LoopbackHost {
  index: number;
  ip: string;
  env: NodeJS.ProcessEnv;
}
export interface Loopback extends JobHosts {
  hosts: LoopbackHost[];
  /** Present when created with { proxy: true }: every inter-host connection goes through it. */
  proxy?: FaultProxy;
  spawn(i: number, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** With a proxy (fixed ports): wait, at most `ms`, until no coordinator of a finished job holds a host's port. */
  portsFree(ms?: number): Promise<boolean>;
  destroy(): Promise<void>;
}

let seq = 0;

/** Whether `ip:port` can be bound now. */
function bindable(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, ip, () => s.close(() => resolve(true)));
  });
}

/** A port free on `ip` right now; nothing else binds this harness's addresses, so it stays free. */
function freePort(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, ip, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function createLoopback(nhosts: number, o: { proxy?: boolean; seed?: number } = {}): Promise<Loopback> {
  const a = 1 + (process.pid % 250),
    b = (Math.floor(process.pid / 250) + seq++) % 256;
  const hosts: LoopbackHost[] = [...Array(nhosts).keys()].map((i) => {
    const ip = `127.${a}.${b}.${i + 1}`;
    return { index: i, ip, env: { ONET_IFNAME: ip } };
  });
  let proxy: FaultProxy | undefined;
  if (o.proxy) {
    const ports = await Promise.all(hosts.map((h) => freePort(h.ip)));
    proxy = await FaultProxy.start(
      hosts.map((h, i) => `${h.ip}:${ports[i]}`),
      hosts.map((h) => h.ip),
      o.seed,
    );
    for (const h of hosts)
      Object.assign(h.env, { ONET_HOST_PORT: String(ports[h.index]), ONET_TEST_ADVERTISE: proxy.addresses[h.index] });
  }
  return {
    hosts,
    proxy,
    spawn: (i, cmd, args, env = {}) =>
      spawn(cmd, args, { env: { ...process.env, ...hosts[i].env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
    portsFree: async (ms = 20_000) => {
      const fixed = hosts.filter((h) => h.env.ONET_HOST_PORT);
      for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
        const free = await Promise.all(fixed.map((h) => bindable(h.ip, Number(h.env.ONET_HOST_PORT))));
        if (free.every(Boolean)) return true;
        if (Date.now() > end) return false;
      }
    },
    destroy: async () => {
      await proxy?.close();
    },
  };
}
