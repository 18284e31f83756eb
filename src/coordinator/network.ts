// Bringing a multi-host job's network up: choose the interface, open the transport, meet the
// other coordinators at the bootstrap, connect the full mesh, and hand the engine the size
// ranges at which each algorithm wins (src/scheduler). Runs once, when every local rank of a
// job whose WORLD_SIZE exceeds LOCAL_WORLD_SIZE has registered.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { ONESHOT_MAX_SENT_BYTES } from '../gen/algorithms.js';
import type { Engine } from '../native/addon.js';
import { planFromEnv } from '../scheduler/plan.js';
import type { Verifier } from '../security/auth.js';
import { type DataTlsPaths, dataTlsFrom } from '../security/data_tls.js';
import { tlsFrom } from '../security/tls.js';
import { summarize, topologyFromEnv, uniformTopology } from '../topology/graph.js';
import { chooseInterface } from '../topology/iface.js';
import type { Logger } from './log.js';
import { bootstrapFrom, type HostEntry, join, serveBootstrap } from './rendezvous.js';

export interface NetworkUp {
  me: number;
  hosts: HostEntry[];
  transport: string;
  iface: string;
}

/** The bootstrap address is one of this host's own (non-loopback) addresses: bind there. */
function ownAddress(
  host: string,
  env: NodeJS.ProcessEnv,
): { name: string; address: string; reason: string } | undefined {
  if (setting('ifname', env)) return undefined; // the user chose; chooseInterface honours it
  for (const [name, addrs] of Object.entries(networkInterfaces()))
    for (const a of addrs ?? [])
      if (!a.internal && a.address === host)
        return {
          name,
          address: host,
          reason: `${name} (${host}): carries the bootstrap address, which is this host's (ONET_IFNAME unset)`,
        };
  return undefined;
}

/** ONET_IFNAME names an address, not an interface: bind exactly it (one of several on a NIC, or one of
 *  several test "hosts" on 127/8, src/testing/loopback.ts). Listening fails, naming it, if it is not ours. */
export function givenAddress(env: NodeJS.ProcessEnv): { name: string; address: string; reason: string } | undefined {
  const want = String(setting('ifname', env));
  if (!isIP(want)) return undefined;
  const nic = Object.entries(networkInterfaces()).find(([, addrs]) => addrs?.some((a) => a.address === want))?.[0];
  const name = nic ?? (want.startsWith('127.') ? 'lo' : 'unknown');
  return { name, address: want, reason: `${name} (${want}): ONET_IFNAME=${want} names this address` };
}

/** TESTS ONLY: the data address the other hosts are told, ONET_TEST_ADVERTISE (a fault proxy that forwards
 *  to `addr`, src/testing/fault_proxy.ts), else `addr` itself. */
function advertisedAddress(addr: string, env: NodeJS.ProcessEnv): string {
  const a = String(setting('testAdvertise', env));
  if (a && !/^[^\s]+:\d+$/.test(a))
    throw new OnetError('EINVAL', `ONET_TEST_ADVERTISE=${a} is not ip:port; it is a test hook, unset it outside tests`);
  return a || addr;
}

/** The transport handshake's job hash: of the job id, and of the job token when one is set. */
export function jobHash(job: string, token = ''): number {
  return createHash('sha256')
    .update(token ? `${job}\0${token}` : job)
    .digest()
    .readUInt32LE(0);
}

export interface AlgoRule {
  coll: string;
  maxBytes: number;
  algo: string;
  chunkBytes?: number;
}
/**
 * The registry's one-shot limit (spec/algorithms.json): allreduces with (hosts − 1)·bytes up to it run in one
 * round.
 */
const ONESHOT_BYTES = ONESHOT_MAX_SENT_BYTES;
const ENGINE_COLLS = new Set(['allreduce', 'allgather', 'broadcast', 'reduce_scatter']);

/**
 * The engine's size rules from the scheduler (src/scheduler) for the hosts the bootstrap
 * returned. Link figures come from ONET_TOPO_FILE (e.g. `onet topo --probe --json` output, or a
 * file naming a shaped rate) summarised to its slowest link, else the scheduler's default link.
 * Every input (the host list, that file, ONET_ALGO) is the same on every host, so every host
 * computes the same rules; the engine's per-call header carries a hash of them, so hosts that
 * were configured differently fail with a mismatch instead of running different algorithms.
 */
export function schedulerRules(
  hosts: HostEntry[],
  env: NodeJS.ProcessEnv,
): { rules: AlgoRule[]; explanation: string | null } {
  const ppn = Math.max(1, ...hosts.map((h) => h.ranks.length));
  const file = topologyFromEnv(env);
  const s = file ? summarize(file) : undefined;
  const topo = uniformTopology(
    hosts.length,
    ppn,
    s && Number.isFinite(s.bandwidthGBs) && s.alphaUs > 0
      ? { latencyUs: s.alphaUs, bandwidthGBs: s.bandwidthGBs }
      : undefined,
    s?.shmGBs,
  );
  topo.name = file
    ? `${hosts.length} hosts × ${ppn} ranks, links from ONET_TOPO_FILE (${file.name ?? 'unnamed'})`
    : `${hosts.length} hosts × ${ppn} ranks, default link (set ONET_TOPO_FILE to calibrate)`;
  const plan = planFromEnv(topo, env);
  const rules = plan.table
    .filter((e) => ENGINE_COLLS.has(e.coll))
    .map((e) => ({ coll: e.coll, maxBytes: e.maxBytes ?? Number.MAX_VALUE, algo: e.algo, chunkBytes: e.chunkBytes }));
  return { rules, explanation: plan.explanation };
}

/** tcp, ucx, or auto: UCX where an RDMA device exists (and the addon was built with it). */
export function pickTransport(env: NodeJS.ProcessEnv): 'tcp' | 'ucx' {
  const want = String(setting('transport', env));
  if (want === 'tcp' || want === 'ucx') return want;
  if (want !== 'auto') throw new OnetError('EINVAL', `ONET_TRANSPORT=${want} is not a transport; use tcp, ucx or auto`);
  const ib = '/sys/class/infiniband';
  return existsSync(ib) && readdirSync(ib).length > 0 ? 'ucx' : 'tcp';
}

/**
 * The transport's options for this job, keyed as the native side's one table of them
 * (native/transport/common/options.cc): the addon hands every key straight to
 * DeviceOptions::set, which refuses one it does not know, so a new knob is a row there and a
 * key here. Knobs of one backend (streams, checksum, ...) are ignored by the others.
 */
export function deviceOptions(
  transport: 'tcp' | 'ucx',
  bindIp: string,
  job: string,
  env: NodeJS.ProcessEnv,
  dataTls?: DataTlsPaths,
) {
  return {
    transport,
    bindIp,
    port: Number(setting('hostPort', env)),
    jobHash: jobHash(job, setting('jobToken', env) as string),
    heartbeatMs: Number(setting('heartbeatMs', env)),
    streams: Number(setting('tcpStreams', env)),
    checksum: Boolean(setting('checksum', env)),
    zerocopyBytes: Number(setting('tcpZerocopyBytes', env)),
    testCorruptEvery: Number(setting('testCorrupt', env)),
    ...dataTls,
  };
}

export async function startNetwork(
  engine: Engine,
  o: {
    job: string;
    world: number;
    localRanks: number[];
    env: NodeJS.ProcessEnv;
    log: Logger;
    verifier?: Verifier;
    rules?: { coll: string; maxBytes: number; algo: string; chunkBytes?: number }[];
  },
): Promise<NetworkUp> {
  // ONET_WAN: the coordinators meet over libp2p, never at the bootstrap below (src/p2p, docs/wan.md).
  if (setting('wan', o.env)) return (await import('../p2p/network_wan.js')).startWanNetwork(engine, o);
  const b = bootstrapFrom(o.env);
  if (!b)
    throw new OnetError(
      'EINVAL',
      `world size ${o.world} but ${o.localRanks.length} rank(s) on this host, and no way to find the other hosts: ` +
        `set MASTER_ADDR and MASTER_PORT (torchrun does) or ONET_BOOTSTRAP=host:port`,
    );
  const timeoutMs = Number(setting('connectTimeoutS', o.env)) * 1000;
  const sec = { token: String(setting('jobToken', o.env)) || undefined, tls: tlsFrom(o.env), verifier: o.verifier };
  const served = o.localRanks.includes(0)
    ? serveBootstrap(b, o.job, o.world, timeoutMs, (m) => o.log('warn', m), sec)
    : undefined;
  served?.catch(() => {}); // its failure also reaches join() below, with the reason
  const iface =
    givenAddress(o.env) ??
    ownAddress(b.host, o.env) ??
    (await chooseInterface([`${b.host}:${b.port}`], { env: o.env }));
  o.log('info', `inter-host interface ${iface.reason}`);
  const transport = pickTransport(o.env);
  const dataTls = dataTlsFrom(o.env, transport);
  if (sec.tls && !dataTls)
    o.log(
      'warn',
      `the ${transport} data path between hosts is NOT encrypted ` +
        `(ONET_TLS_DATA=${setting('tlsData', o.env)}${transport === 'tcp' ? '' : '; only tcp can encrypt'})`,
    );
  const addr = engine.netListen(deviceOptions(transport, iface.address, o.job, o.env, dataTls));
  o.log(
    'info',
    `${transport} transport listening on ${addr}${dataTls ? ' (encrypted: TLS 1.3 + AES-256-GCM)' : ''}; bootstrap ` +
      `${b.host}:${b.port} (${b.source})`,
  );
  const told = advertisedAddress(addr, o.env);
  if (told !== addr)
    o.log('warn', `TESTS ONLY: the other hosts dial ${told} (ONET_TEST_ADVERTISE), which must forward to ${addr}`);
  const hosts = await join(b, o.job, o.localRanks, told, timeoutMs, sec);
  if (served) await served;
  const me = hosts.findIndex((h) => h.addr === told);
  if (me < 0) throw new OnetError('EINTERNAL', `the bootstrap's host list does not contain this coordinator (${told})`);
  const hostOfRank = new Array<number>(o.world).fill(-1);
  for (const h of hosts) for (const r of h.ranks) hostOfRank[r] = h.host;
  try {
    await engine.netConnect(
      me,
      hosts.map((h) => h.addr),
      hostOfRank,
      timeoutMs,
    );
  } catch (e) {
    const err = OnetError.fromNative(e);
    throw new OnetError(err.code, `connecting host ${me} to the other hosts: ${err.message}`, err.ranks);
  }
  let rules = o.rules;
  if (!rules?.length) {
    const plan = schedulerRules(hosts, o.env);
    rules = plan.rules;
    if (plan.explanation)
      o.log(
        'info',
        `${plan.explanation}\n  allreduce below ${ONESHOT_BYTES / Math.max(1, hosts.length - 1)} B: one-shot ` +
          `exchange in the engine (header sent with the data, one round), before these rules`,
      );
  }
  if (rules.length) engine.setAlgoRules(rules);
  o.log(
    'info',
    `host ${me} of ${hosts.length}: connected to ${hosts
      .filter((h) => h.host !== me)
      .map((h) => `host ${h.host} (${h.hostname} ${h.addr}, ranks ${h.ranks.join(',')})`)
      .join('; ')}`,
  );
  return { me, hosts, transport, iface: iface.name };
}
