// Topology discovery, the graph file format, bounded link probing over real TCP, interface
// choice, and rendering. This machine has no InfiniBand and no GPU: those readers run on
// recorded /sys and /proc trees written to a temp dir (the test says so where it does).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  linkBetween,
  loadTopology,
  summarize,
  topologyFromEnv,
  topologyToJson,
  uniformTopology,
  validateTopology,
} from '../src/topology/graph';
import { discoverHost, gpus, ibPorts, type Nic, nics, numaNodes } from '../src/topology/host';
import { chooseInterface, procRouteGet } from '../src/topology/iface';
import { probeLinks, startProbeServer, tcpPinger } from '../src/topology/probe';
import { renderHost, renderSvg, renderTopology } from '../src/topology/render';

const FIX = path.join(__dirname, 'fixtures', 'topo');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onet-topo-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
  fs.writeFileSync(path.join(tmp, rel), text);
};

describe('host discovery', () => {
  it('reads this machine: cores, memory, loopback with its address, every /sys/class/net entry', () => {
    const h = discoverHost({ nvidiaSmi: null });
    expect(h.cores).toBe(os.availableParallelism());
    expect(h.memoryBytes).toBe(os.totalmem());
    expect(h.nics.map((n) => n.name).sort()).toEqual(fs.readdirSync('/sys/class/net').sort());
    const lo = h.nics.find((n) => n.kind === 'loopback')!;
    expect(lo.addresses).toContain('127.0.0.1/8');
    expect(lo.mtu).toBeGreaterThan(0);
    for (const n of h.nics) expect(n.speedMbps === null || n.speedMbps > 0).toBe(true);
    if (fs.existsSync('/sys/devices/system/node/node0')) {
      expect(h.numa[0].id).toBe(0);
      expect(h.numa[0].memBytes).toBeGreaterThan(0);
      expect(h.numa[0].cpus).toMatch(/^\d/);
    }
  });

  it('parses InfiniBand ports and NIC speed from a recorded sysfs tree (no IB here)', () => {
    write('sys/class/infiniband/mlx5_0/ports/1/state', '4: ACTIVE\n');
    write('sys/class/infiniband/mlx5_0/ports/1/rate', '100 Gb/sec (4X EDR)\n');
    write('sys/class/infiniband/mlx5_0/ports/1/link_layer', 'InfiniBand\n');
    write('sys/class/infiniband/mlx5_0/device/net/ib0/type', '32\n');
    write('sys/class/net/ib0/type', '32\n');
    write('sys/class/net/ib0/operstate', 'up\n');
    write('sys/class/net/ib0/speed', '100000\n');
    write('sys/class/net/ib0/mtu', '4092\n');
    write('sys/class/net/eth9/type', '1\n');
    write('sys/class/net/eth9/operstate', 'down\n');
    write('sys/class/net/eth9/speed', '-1\n');
    write('sys/devices/system/node/node1/cpulist', '8-15\n');
    write('sys/devices/system/node/node1/meminfo', 'Node 1 MemTotal:       1024 kB\n');
    write('sys/devices/system/node/node0/cpulist', '0-7\n');
    expect(ibPorts(path.join(tmp, 'sys'))).toEqual([
      { device: 'mlx5_0', port: 1, state: 'active', rateGbps: 100, linkLayer: 'InfiniBand', netdev: 'ib0' },
    ]);
    const n = nics(path.join(tmp, 'sys'));
    expect(n.find((x) => x.name === 'ib0')).toMatchObject({
      kind: 'infiniband',
      state: 'up',
      speedMbps: 100000,
      mtu: 4092,
    });
    expect(n.find((x) => x.name === 'eth9')).toMatchObject({ kind: 'ethernet', state: 'down', speedMbps: null });
    expect(numaNodes(path.join(tmp, 'sys'))).toEqual([
      { id: 0, cpus: '0-7', memBytes: null },
      { id: 1, cpus: '8-15', memBytes: 1024 * 1024 },
    ]);
  });

  it('lists GPUs from a recorded /proc/driver/nvidia tree when nvidia-smi is absent (no GPU here)', () => {
    write('proc/driver/nvidia/gpus/0000:3b:00.0/information', 'Model: \t\t Tesla V100-SXM2-32GB\nIRQ: 1\n');
    write('proc/driver/nvidia/gpus/0000:5e:00.0/information', 'Model: \t\t Tesla V100-SXM2-32GB\n');
    const g = gpus(path.join(tmp, 'proc'), null);
    expect(g.map((x) => [x.index, x.name, x.busId])).toEqual([
      [0, 'Tesla V100-SXM2-32GB', '0000:3b:00.0'],
      [1, 'Tesla V100-SXM2-32GB', '0000:5e:00.0'],
    ]);
    expect(gpus(path.join(tmp, 'nowhere'), path.join(tmp, 'no-such-nvidia-smi'))).toEqual([]);
  });
});

describe('topology graph', () => {
  it('round-trips through JSON and ONET_TOPO_FILE', () => {
    const t = uniformTopology(3, 5, { latencyUs: 12, bandwidthGBs: 3 });
    t.links.push({ a: 'host0', b: 'host2', latencyUs: 40, bandwidthGBs: 0.5, measured: true });
    const file = path.join(tmp, 't.json');
    fs.writeFileSync(file, topologyToJson(t));
    expect(loadTopology(file)).toEqual(t);
    expect(topologyFromEnv({ ONET_TOPO_FILE: file })).toEqual(t);
    expect(topologyFromEnv({})).toBeNull();
    expect(summarize(t)).toMatchObject({ alphaUs: 40, bandwidthGBs: 0.5, links: 3, measured: false, ppn: 5 });
    expect(linkBetween(t, 'host2', 'host0')).toMatchObject({ latencyUs: 40, measured: true });
    expect(linkBetween(t, 'host1', 'host0')).toMatchObject({ latencyUs: 12, measured: false });
  });

  it.each(['4x10g', '2x100g', '5-mixed', '1024x8'])('loads the recorded fixture %s', (name) => {
    const t = loadTopology(path.join(FIX, `${name}.json`));
    const s = summarize(t);
    expect(s.alphaUs).toBeGreaterThan(0);
    expect(s.bandwidthGBs).toBeGreaterThan(0);
    if (name === '5-mixed') expect(s).toMatchObject({ alphaUs: 30, bandwidthGBs: 0.125, links: 10 });
    if (name === '1024x8') expect(s).toMatchObject({ links: (1024 * 1023) / 2, ppn: 8 });
  });

  it('rejects bad files naming the field and the file', () => {
    const good = {
      version: 1,
      hosts: [
        { name: 'a', ranks: 1 },
        { name: 'b', ranks: 1 },
      ],
      links: [{ a: 'a', b: 'b', latencyUs: 1, bandwidthGBs: 1, measured: false }],
    };
    expect(() => validateTopology({ ...good, version: 2 }, 'x.json')).toThrow(/x\.json: "version" must be 1/);
    expect(() => validateTopology({ ...good, links: [{ ...good.links[0], b: 'c' }] })).toThrow(
      /links\[0\]\.b "c" is not one of the hosts/,
    );
    expect(() => validateTopology({ ...good, links: [{ ...good.links[0], bandwidthGBs: -1 }] })).toThrow(
      /bandwidthGBs must be a positive number/,
    );
    expect(() =>
      validateTopology({
        ...good,
        hosts: [
          { name: 'a', ranks: 1 },
          { name: 'a', ranks: 1 },
        ],
      }),
    ).toThrow(/appears twice/);
    expect(() => validateTopology({ ...good, links: [] })).toThrow(/2 hosts but no links/);
    fs.writeFileSync(path.join(tmp, 'bad.json'), '{nope');
    expect(() => loadTopology(path.join(tmp, 'bad.json'))).toThrow(/bad\.json is not JSON/);
    expect(() => loadTopology(path.join(tmp, 'missing.json'))).toThrow(/cannot read topology file .*ENOENT/);
  });
});

describe('link probing over real TCP on 127.0.0.1', () => {
  it('measures latency and bandwidth through a socket pair', async () => {
    const server = await startProbeServer(0, '127.0.0.1');
    const peer = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const p = tcpPinger();
    try {
      const r = await probeLinks('me', [peer], p.measure, { budgetMs: 5000, largeBytes: 1 << 20, reps: 3 });
      expect(r.failed).toEqual([]);
      expect(r.links).toHaveLength(1);
      expect(r.links[0]).toMatchObject({ a: 'me', b: peer, measured: true });
      expect(r.links[0].latencyUs).toBeGreaterThan(0);
      expect(r.links[0].bandwidthGBs).toBeGreaterThan(0);
      validateTopology({
        version: 1,
        hosts: [
          { name: 'me', ranks: 1 },
          { name: peer, ranks: 1 },
        ],
        links: r.links,
      });
    } finally {
      p.close();
      server.close();
    }
  });

  it('gives up on a peer that never answers within its budget, and reports a refused one', async () => {
    // A real TCP server that reads but never acknowledges.
    const silent = net.createServer((s) => s.resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const silentPeer = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const p = tcpPinger(1000);
    try {
      const r = await probeLinks('me', [silentPeer, `127.0.0.1:${closedPort}`], p.measure, { budgetMs: 300 });
      expect(r.links).toEqual([]);
      expect(r.failed[0]).toMatchObject({ peer: silentPeer });
      expect(r.failed[0].reason).toMatch(/no answer within the 300 ms probe budget/);
      expect(r.failed[1].reason).toMatch(/ECONNREFUSED/);
    } finally {
      p.close();
      silent.close();
    }
  });
});

describe('interface choice', () => {
  const table = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    'eth1\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'eth2\t0000010A\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0', // not RTF_UP
  ].join('\n');
  const nic = (name: string, state: string, addr: string, kind: Nic['kind'] = 'ethernet'): Nic => ({
    name,
    kind,
    state,
    speedMbps: 10000,
    mtu: 1500,
    mac: '',
    addresses: [addr],
  });
  const recorded = [
    nic('lo', 'unknown', '127.0.0.1/8', 'loopback'),
    nic('eth0', 'up', '192.168.0.5/24'),
    nic('eth1', 'up', '10.0.0.2/24'),
    nic('eth3', 'down', '10.9.0.1/24'),
  ];

  it('matches the longest prefix of a recorded /proc/net/route', () => {
    expect(procRouteGet('10.0.0.3', table)).toEqual({ dev: 'eth1' });
    expect(procRouteGet('192.168.0.9', table)).toEqual({ dev: 'eth0' });
    expect(procRouteGet('8.8.8.8', table)).toEqual({ dev: 'eth0' });
    expect(procRouteGet('10.1.0.7', table)).toEqual({ dev: 'eth0' }); // eth2's route is down: default
  });

  it('picks the interface that routes to the peers and says why', async () => {
    const c = await chooseInterface(['10.0.0.3', '10.0.0.4:29500'], {
      env: {},
      nics: recorded,
      routeGet: (a) => procRouteGet(a, table),
    });
    expect(c).toEqual({
      name: 'eth1',
      address: '10.0.0.2',
      reason: 'eth1 (10.0.0.2): routes to peers 10.0.0.3, 10.0.0.4 (ONET_IFNAME unset)',
    });
    const split = await chooseInterface(['10.0.0.3', '10.0.0.4', '8.8.8.8'], {
      env: {},
      nics: recorded,
      routeGet: (a) => procRouteGet(a, table),
    });
    expect(split.reason).toBe(
      'eth1 (10.0.0.2): routes to peers 10.0.0.3, 10.0.0.4; 8.8.8.8 via eth0 (ONET_IFNAME unset)',
    );
  });

  it('honours ONET_IFNAME and rejects a missing or down one, listing what exists', async () => {
    expect(await chooseInterface(['10.0.0.3'], { env: { ONET_IFNAME: 'eth0' }, nics: recorded })).toEqual({
      name: 'eth0',
      address: '192.168.0.5',
      reason: 'eth0 (192.168.0.5): ONET_IFNAME=eth0',
    });
    await expect(chooseInterface([], { env: { ONET_IFNAME: 'eth3' }, nics: recorded })).rejects.toThrow(
      /ONET_IFNAME=eth3 is down, not up\. Interfaces here: lo \(unknown, 127\.0\.0\.1\/8\), eth0 \(up/,
    );
    // Against this machine's real interfaces:
    const real = fs.readdirSync('/sys/class/net');
    const err = await chooseInterface([], { env: { ONET_IFNAME: 'nosuch9' } }).catch((e) => e);
    expect(err.code).toBe('EINVAL');
    expect(err.message).toMatch(/ONET_IFNAME=nosuch9: no such interface/);
    for (const n of real) expect(err.message).toContain(`${n} (`);
    expect(await chooseInterface([], { env: { ONET_IFNAME: 'lo' } })).toMatchObject({
      name: 'lo',
      address: '127.0.0.1',
    });
  });

  it('uses loopback on one host and the kernel route otherwise (this machine)', async () => {
    expect(await chooseInterface([], { env: {} })).toEqual({
      name: 'lo',
      address: '127.0.0.1',
      reason: 'lo (127.0.0.1): single host, no peers (ONET_IFNAME unset)',
    });
    expect((await chooseInterface(['127.0.0.1:5000', 'localhost'], { env: {} })).reason).toMatch(
      /^lo \(127\.0\.0\.1\): peers 127\.0\.0\.1, 127\.0\.0\.1 are on this host/,
    );
    const def = fs
      .readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .find((c) => c[1] === '00000000');
    if (!def) return; // no default route in this sandbox
    const c = await chooseInterface(['203.0.113.5'], { env: {} });
    expect(c.name).toBe(def[0]);
    expect(c.reason).toBe(`${def[0]} (${c.address}): routes to peers 203.0.113.5 (ONET_IFNAME unset)`);
  });
});

describe('rendering', () => {
  it('tabulates hosts and links and draws every link labelled with its bandwidth', () => {
    const t = loadTopology(path.join(FIX, '4x10g.json'));
    const text = renderTopology(t);
    for (const h of t.hosts) expect(text).toContain(h.name);
    expect(text).toMatch(/node0 — node1 +200 µs +1\.25 GB\/s \(10 Gbit\/s\) +no/);
    const svg = renderSvg(t);
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg.match(/<line /g)).toHaveLength(6);
    expect(svg.match(/>1\.25 GB\/s</g)).toHaveLength(6);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    const big = renderSvg(loadTopology(path.join(FIX, '1024x8.json')));
    expect(big).toContain('showing 32 of 1024 hosts');
    expect(renderHost(discoverHost({ nvidiaSmi: null }))).toMatch(/^host .*: \d+ cores/);
  });
});
