// `onet topo` and `onet explain` run as a user runs them: node bin/onet.js (after build:ts),
// real processes, real TCP probing between two CLI processes on 127.0.0.1.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateTopology } from '../src/topology/graph';
import { ONET, ROOT, runProc } from './helpers';

const onet = (args: string[], env: NodeJS.ProcessEnv = {}) => runProc(process.execPath, [ONET, ...args], env, 60_000);
const FOUR = path.join(ROOT, 'test/fixtures/topo/4x10g.json');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onet-cli-topo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('onet topo', () => {
  it('shows this host, its NICs and why it binds loopback on one host', async () => {
    const r = await onet(['topo'], { ONET_IFNAME: '', ONET_TOPO_FILE: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^host ${os.hostname()}: ${os.availableParallelism()} cores`));
    for (const n of fs.readdirSync('/sys/class/net')) expect(r.stdout).toMatch(new RegExp(`^${n} `, 'm'));
    expect(r.stdout).toContain('bind: lo (127.0.0.1): single host, no peers (ONET_IFNAME unset)');
  });

  it('--json writes a topology ONET_TOPO_FILE accepts', async () => {
    const r = await onet(['topo', '--json', '--ranks', '3'], { ONET_TOPO_FILE: '' });
    expect(r.code, r.stderr).toBe(0);
    const t = validateTopology(JSON.parse(r.stdout));
    expect(t.hosts[0]).toMatchObject({ name: os.hostname(), ranks: 3 });
    expect(t.hosts[0].info!.nics.some((n) => n.kind === 'loopback')).toBe(true);
    const file = path.join(tmp, 'me.json');
    fs.writeFileSync(file, r.stdout);
    const e = await onet(['explain', '--size', '1MiB'], { ONET_TOPO_FILE: file });
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/on 1 host × 3 ranks\/host = 3 ranks/);
    expect(e.stdout).toContain('one host: only the shared-memory phases run');
  });

  it('--probe measures a real TCP link to a probe-server process and draws it', async () => {
    const server = spawn(process.execPath, [ONET, 'topo', '--probe-server', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (d) => {
          out += d;
          const m = /listening on port (\d+)/.exec(out);
          if (m) resolve(m[1]);
        });
        server.on('exit', (c) => reject(new Error(`probe server exited ${c}`)));
      });
      const svg = path.join(tmp, 'topo.svg');
      const peer = `127.0.0.1:${port}`;
      const r = await onet(['topo', '--probe', '--peers', peer, '--json', '--svg', svg, '--budget-ms', '5000'], {
        ONET_TOPO_FILE: '',
      });
      expect(r.code, r.stderr).toBe(0);
      const t = validateTopology(JSON.parse(r.stdout));
      const link = t.links.find((l) => l.b === peer)!;
      expect(link).toMatchObject({ a: os.hostname(), measured: true });
      expect(link.bandwidthGBs).toBeGreaterThan(0);
      expect(r.stderr).toMatch(/loopback TCP: [\d.]+ µs one-way, [\d.e+-]+ GB\/s/);
      const pic = fs.readFileSync(svg, 'utf8');
      expect(pic).toContain(`>${Number(link.bandwidthGBs.toPrecision(3))} GB/s<`);
      expect(pic.match(/<circle /g)).toHaveLength(2);
      // The measured file drives explain: 2 hosts, the link as measured.
      const file = path.join(tmp, 'probed.json');
      fs.writeFileSync(file, r.stdout);
      const e = await onet(['explain', '--size', '8', '--topo', file]);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout, e.stdout + e.stderr).toMatch(/on 2 hosts × 1 rank\/host/);
      expect(e.stdout).toMatch(/slowest of 1 link; measured\)/);
    } finally {
      server.kill('SIGTERM');
    }
  });

  it('renders a topology file and rejects a missing ONET_IFNAME, listing the interfaces', async () => {
    const r = await onet(['topo'], { ONET_TOPO_FILE: FOUR });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /topology: 4 hosts x 2 ranks, 10 GbE, 0\.2 ms \(hand-written\) — 4 host\(s\), 8 rank\(s\)/,
    );
    expect(r.stdout).toMatch(/node2 — node3 +200 µs +1\.25 GB\/s/);
    const bad = await onet(['topo'], { ONET_IFNAME: 'nosuch0' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^onet: EINVAL: ONET_IFNAME=nosuch0: no such interface on .*Interfaces here: .*lo \(/);
  });
});

describe('onet explain', () => {
  it('64 MiB and 8 B allreduce at 4 hosts × 2 ranks on 10 GbE / 0.2 ms', async () => {
    const big = await onet([
      'explain',
      '--size',
      '64MiB',
      '--op',
      'allreduce',
      '--hosts',
      '4',
      '--ppn',
      '2',
      '--topo',
      FOUR,
    ]);
    expect(big.code, big.stderr).toBe(0);
    expect(big.stdout).toMatch(/chosen: ring, chunk 1 MiB: cheapest predicted time; next best rabenseifner/);
    expect(big.stdout).toMatch(/^rabenseifner +\d[\d.]* ms +1\.\d\d×/m);
    const small = await onet([
      'explain',
      '--size',
      '8',
      '--op',
      'allreduce',
      '--hosts',
      '4',
      '--ppn',
      '2',
      '--topo',
      FOUR,
    ]);
    expect(small.stdout).toMatch(/chosen: rabenseifner, .*latency-bound/s);
  });

  it('--simulate 1024x8 predicts a sweep; --table prints what the engine consumes', async () => {
    const s = await onet(['explain', '--simulate', '1024x8', '--json']);
    expect(s.code, s.stderr).toBe(0);
    const j = JSON.parse(s.stdout);
    expect(j.params).toMatchObject({ P: 1024, m: 8 });
    expect(j.simulation.length).toBeGreaterThan(10);
    const t = await onet(['explain', '--table', '--topo', FOUR]);
    const table = JSON.parse(t.stdout);
    expect(table.filter((e: any) => e.coll === 'allreduce').map((e: any) => e.algo)).toContain('ring');
    for (const e of table) expect(Object.keys(e)).toEqual(['coll', 'maxBytes', 'algo', 'chunkBytes']);
  });

  it('honours ONET_ALGO and rejects unknown names with the valid list', async () => {
    const f = await onet(['explain', '--size', '8', '--hosts', '4', '--ppn', '2', '--topo', FOUR], {
      ONET_ALGO: 'allreduce:ring',
    });
    expect(f.stdout).toMatch(/chosen: ring, .*forced by ONET_ALGO \(the model prefers rabenseifner/);
    const bad = await onet(['explain'], { ONET_ALGO: 'allreduce:tree' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /ONET_ALGO: unknown allreduce algorithm "tree"\. Valid allreduce algorithms: ring, dbtree, rabenseifner/,
    );
    const op = await onet(['explain', '--op', 'scan']);
    expect(op.stderr).toMatch(/--op "scan" is not a collective; use one of allreduce, allgather/);
  });

  it('onet config lists the multi-host settings with their defaults', async () => {
    const r = await onet(['config']);
    expect(r.stdout).toMatch(/ONET_TCP_STREAMS +2 +default/);
    expect(r.stdout).toMatch(/ONET_CHECKSUM +1 +default/);
    expect(r.stdout).toMatch(/ONET_TRANSPORT +auto +default/);
    for (const v of [
      'ONET_ALGO',
      'ONET_EXPLAIN',
      'ONET_TOPO_FILE',
      'ONET_IFNAME',
      'ONET_FUSION_BYTES',
      'ONET_BOOTSTRAP',
      'ONET_HOST_PORT',
    ])
      expect(r.stdout).toContain(v);
  });
});
