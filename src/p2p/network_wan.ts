// Bringing a multi-host job's network up with ONET_WAN=1 (network.ts hands over to this): as
// startNetwork, except that the coordinators meet over libp2p (meet.ts) instead of at
// ONET_BOOTSTRAP / MASTER_ADDR:MASTER_PORT+1, which this path never reads. Collective bytes
// then take the native transport between the addresses the hosts announced (direct paths), or
// through tunnels over libp2p streams (tunnel.ts) to hosts whose data address does not answer.
import { hostname, networkInterfaces } from 'node:os';
import { setting } from '../config/settings.js';
import type { Logger } from '../coordinator/log.js';
import { deviceOptions, givenAddress, type NetworkUp, pickTransport, schedulerRules } from '../coordinator/network.js';
import { OnetError } from '../errors.js';
import type { Engine } from '../native/addon.js';
import { Verifier } from '../security/auth.js';
import { chooseInterface } from '../topology/iface.js';
import { hostKeyFile, loadOrCreateKey } from './identity.js';
import { holdKey } from './key_holder.js';
import {
  autonatVerdict,
  BandwidthMeter,
  describeLinks,
  type LinkInfo,
  linkCounters,
  trackHolePunches,
  withBandwidth,
} from './links.js';
import { WanMeeting } from './meet.js';
import { createP2pNode, multiaddrList, type P2pNode } from './node.js';
import { setWanSnapshot } from './state.js';
import { type Forwarder, openForwarder, reachable, serveTunnels, TUNNEL_PROTOCOL } from './tunnel.js';

/** How long a direct TCP connect to a peer's data address may take before ONET_P2P_TUNNEL=auto tunnels. */
const PROBE_MS = 1500;

/** How often the links' kind and round trip are measured again for onet status. */
const LINK_REFRESH_MS = 5000;
/** How often the native transport's byte counters are sampled for the links' measured bandwidth. */
const BW_SAMPLE_MS = 1000;

/** What a coordinator keeps of its WAN side while the job runs (onet status shows it). */
export interface WanState {
  node: P2pNode;
  peerId: string;
  hosts: string[];
  meetMs: number;
  links(): Promise<LinkInfo[]>;
}
let current: WanState | undefined;
/** This process's WAN state, when ONET_WAN brought its network up. */
export const wanState = () => current;

/** The address to bind: ONET_IFNAME, else the interface routing to the first bootstrap, else any up one. */
async function wanInterface(env: NodeJS.ProcessEnv, bootstrap: string[]) {
  const given = givenAddress(env);
  if (given) return given;
  const peers = bootstrap.flatMap((a) => {
    const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(a);
    return m ? [`${m[1]}:${m[2]}`] : [];
  });
  try {
    return await chooseInterface(peers.length ? peers.slice(0, 1) : ['192.0.2.1:9'], { env });
  } catch (e) {
    if (setting('ifname', env)) throw e;
    for (const [name, addrs] of Object.entries(networkInterfaces()))
      for (const a of addrs ?? [])
        if (!a.internal && a.family === 'IPv4')
          return { name, address: a.address, reason: `${name} (${a.address}): the first up IPv4 interface (no route)` };
    throw e;
  }
}

export async function startWanNetwork(
  engine: Engine,
  o: { job: string; world: number; localRanks: number[]; env: NodeJS.ProcessEnv; log: Logger; verifier?: Verifier },
): Promise<NetworkUp> {
  const env = o.env;
  const token = String(setting('jobToken', env));
  if (!token)
    throw new OnetError(
      'EINVAL',
      'ONET_WAN=1 needs ONET_JOB_TOKEN: coordinators that meet over the internet prove it to each other; ' +
        'generate one (e.g. `openssl rand -base64 32`) and give it to every host of the job',
    );
  const bootstrap = multiaddrList(String(setting('p2pBootstrap', env)), 'ONET_P2P_BOOTSTRAP', true);
  const allow = String(setting('p2pAllow', env))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const timeoutMs = Number(setting('connectTimeoutS', env)) * 1000;
  const iface = await wanInterface(env, bootstrap);
  o.log('info', `inter-host interface ${iface.reason}`);
  const transport = pickTransport(env);
  const addr = engine.netListen(deviceOptions(transport, iface.address, o.job, env));
  const listen = multiaddrList(String(setting('p2pListen', env)), 'ONET_P2P_LISTEN');
  const ip = iface.address.includes(':') ? 'ip6' : 'ip4';
  if (!listen.length) listen.push(`/${ip}/${iface.address}/tcp/0`, `/${ip}/${iface.address}/tcp/0/ws`);
  const keyFile = hostKeyFile(env);
  const { key, created } = await loadOrCreateKey(keyFile);
  // The last coordinator with this identity (the previous epoch's of a growing job) may still be exiting.
  const waited = await holdKey(keyFile, timeoutMs);
  if (waited > 0) o.log('info', `waited ${waited} ms for the previous coordinator with this identity to exit`);
  const node = await createP2pNode({
    key,
    listen,
    role: 'coordinator',
    bootstrap,
    mdns: Boolean(setting('p2pMdns', env)),
    upnp: false,
  });
  trackHolePunches(node);
  // TESTS ONLY (ONET_TEST_ADVERTISE): announce another data address, e.g. an unreachable one, so
  // that the other hosts must tunnel; inbound tunnels still connect to the real listener `addr`.
  const told = String(setting('testAdvertise', env)) || addr;
  const verifier = o.verifier ?? new Verifier();
  const tunnelOpts = { node, job: o.job, token, verifier, local: addr, log: o.log };
  await serveTunnels(tunnelOpts);
  o.log(
    'info',
    `libp2p peer ${node.peerId} (${created ? 'new identity' : 'identity'} ${keyFile}) listening on ` +
      `${node.getMultiaddrs().join(', ')}; ${transport} data transport on ${addr}`,
  );
  const meeting = new WanMeeting({
    node,
    job: o.job,
    world: o.world,
    ranks: o.localRanks,
    addr: told,
    hostname: hostname(),
    token,
    allow,
    bootstrap,
    timeoutMs,
    verifier,
    log: o.log,
  });
  await meeting.start();
  let met;
  try {
    met = await meeting.meet();
  } catch (e) {
    meeting.stop();
    await Promise.resolve(node.stop()).catch(() => {});
    throw e;
  }
  const hosts = met.hosts;
  const me = met.peers.indexOf(node.peerId.toString());
  const hostOfRank = new Array<number>(o.world).fill(-1);
  for (const h of hosts) for (const r of h.ranks) hostOfRank[r] = h.host;
  const forwarders = await tunnelsFor(env, tunnelOpts, hosts, met.peers, me, o.log);
  const dataAddrs = hosts.map((h) => forwarders.get(h.host)?.addr ?? h.addr);
  try {
    await engine.netConnect(me, dataAddrs, hostOfRank, timeoutMs);
  } catch (e) {
    // Nothing of the WAN side may outlive a failed start (a libp2p node keeps timers and sockets).
    for (const f of forwarders.values()) f.close();
    await Promise.resolve(node.stop()).catch(() => {});
    const err = OnetError.fromNative(e);
    throw new OnetError(
      err.code,
      `connecting host ${me} to the other hosts (ONET_WAN, ${forwarders.size} over libp2p tunnels): ${err.message}; ` +
        'the hosts met over libp2p (docs/wan.md "Data path")',
      err.ranks,
    );
  }
  const plan = schedulerRules(hosts, env);
  if (plan.rules.length) engine.setAlgoRules(plan.rules);
  o.log(
    'info',
    `host ${me} of ${hosts.length}: connected to ${hosts
      .filter((h) => h.host !== me)
      .map((h) => `host ${h.host} (${h.hostname} ${h.addr}, ranks ${h.ranks.join(',')}, peer ${met.peers[h.host]})`)
      .join('; ')} (met over libp2p in ${met.elapsedMs} ms)`,
  );
  current = {
    node,
    peerId: node.peerId.toString(),
    hosts: met.peers,
    meetMs: met.elapsedMs,
    links: () => describeLinks(node, met.peers, hosts, forwarders),
  };
  // Measured bandwidth: the native transport's per-host byte counters sampled every second.
  const meter = new BandwidthMeter(linkCounters(() => engine.links(), forwarders));
  let links: LinkInfo[] = [];
  const publish = () =>
    setWanSnapshot({
      peerId: node.peerId.toString(),
      meetMs: met.elapsedMs,
      links: links.map((l) => withBandwidth(l, meter)),
      autonat: autonatVerdict(node),
      at: Date.now(),
    });
  const refresh = () =>
    void describeLinks(node, met.peers, hosts, forwarders)
      .then((l) => {
        links = l;
        publish();
      })
      .catch(() => {});
  meter.sample();
  refresh();
  setInterval(refresh, LINK_REFRESH_MS).unref();
  setInterval(() => {
    meter.sample();
    if (links.length) publish();
  }, BW_SAMPLE_MS).unref();
  return { me, hosts, transport, iface: iface.name };
}

/**
 * A local forwarder (tunnel.ts) for each other host whose data address this host cannot reach:
 * ONET_P2P_TUNNEL=1 every host, 0 none, auto those that do not answer a TCP connect in PROBE_MS.
 */
async function tunnelsFor(
  env: NodeJS.ProcessEnv,
  opts: Parameters<typeof openForwarder>[0],
  hosts: { host: number; addr: string }[],
  peers: string[],
  me: number,
  log: Logger,
): Promise<Map<number, Forwarder>> {
  const mode = String(setting('p2pTunnel', env));
  const out = new Map<number, Forwarder>();
  if (mode === '0') return out;
  await Promise.all(
    hosts
      .filter((h) => h.host !== me)
      .map(async (h) => {
        if (mode !== '1' && (await reachable(h.addr, PROBE_MS))) return;
        const f = await openForwarder(opts, h.host, peers[h.host]);
        out.set(h.host, f);
        log(
          'info',
          `host ${h.host}: ${mode === '1' ? 'ONET_P2P_TUNNEL=1' : `its data address ${h.addr} does not answer`}; ` +
            `the native transport reaches it through ${f.addr}, a tunnel over libp2p (${TUNNEL_PROTOCOL})`,
        );
      }),
  );
  return out;
}
