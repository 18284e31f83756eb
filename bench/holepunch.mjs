// Start-up and tunnel throughput of ONET_WAN jobs across NATs (docs/wan.md "Hole punching"):
// 2 hosts of 1 rank each, in network namespaces (root + iptables), with `onet relay` on a public
// host, in three set-ups:
//   lan        both hosts on one bridge with the relay: native TCP straight between them;
//   punched    each host behind its own port-preserving NAT (MASQUERADE): tunnel over a
//              hole-punched libp2p TCP connection;
//   relayed    the same behind symmetric NATs (MASQUERADE --random-fully): tunnel through the relay.
// Per run: ms from spawning the ranks to the end of the first allreduce (8 floats), and busbw of a
// 16 MiB f32 allreduce (WARM warm-ups, REPS timed; busbw = 2(P-1)/P * S / t = S / t for P = 2).
//   npm run build:ts && node bench/holepunch.mjs [runs per set-up, default 2] [lan,punched,relayed]
// The worker side of this file runs inside each rank (ONET_HP_WORKER=1).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SIZE = 16 << 20;
const WARM = 2;
const REPS = 5;

if (process.env.ONET_HP_WORKER === '1') {
  const t0 = Number(process.env.ONET_HP_T0);
  const { init } = await import('../dist/index.js');
  const comm = await init();
  const small = new Float32Array(8).fill(comm.rank + 1);
  await comm.allreduce(small);
  const firstMs = Date.now() - t0;
  const x = new Float32Array(SIZE / 4).fill(1);
  for (let i = 0; i < WARM; i++) await comm.allreduce(x);
  const t = performance.now();
  for (let i = 0; i < REPS; i++) {
    x.fill(1);
    await comm.allreduce(x);
  }
  const s = (performance.now() - t) / 1000 / REPS;
  const exact = small.every((v) => v === 3) && x[0] === comm.world && x[x.length - 1] === comm.world;
  console.log(`ONET_RESULT ${JSON.stringify({ rank: comm.rank, firstMs, busbwMBs: SIZE / s / 1e6, exact })}`);
  await comm.close?.();
  process.exit(0);
}

const { createNet, createNatNet, natUnavailable } = await import('../dist/testing/netns.js');
const { runJob, resultsOf } = await import('../dist/testing/job.js');
const why = natUnavailable();
if (why) {
  console.log(`skipped: ${why}`);
  process.exit(0);
}
const runs = Number(process.argv[2] ?? 2);
const kinds = (process.argv[3] ?? 'lan,punched,relayed').split(',');
const onet = join(ROOT, 'bin/onet.js');

function relayLine(p) {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`onet relay printed nothing: ${out}`)), 30_000);
    p.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(JSON.parse(out.slice(0, nl)));
      }
    });
  });
}

async function once(kind) {
  // lan: hosts 0, 1 and the relay (host 2) on one bridge; else two NATed LANs and a public relay.
  const net = kind === 'lan' ? createNet(3) : createNatNet(2, { symmetric: kind === 'relayed' });
  const spawnRelay = (args, env) =>
    kind === 'lan' ? net.spawn(2, process.execPath, args, env) : net.spawnPub(process.execPath, args, env);
  const relayIp = kind === 'lan' ? net.hosts[2].ip : net.pub.ip;
  const state = mkdtempSync(join(tmpdir(), 'onet-hpbench-'));
  let relay;
  try {
    relay = spawnRelay([onet, 'relay', '--json', '--listen', `/ip4/${relayIp}/tcp/4001`], {
      ONET_STATE_DIR: join(state, 'relay'),
    });
    const addr = (await relayLine(relay)).addrs[0];
    const jobHosts = { hosts: net.hosts.slice(0, 2), spawn: net.spawn };
    const t0 = Date.now();
    let meetMs = 0;
    let punchMs = 0;
    const out = await runJob(
      jobHosts,
      [1, 1],
      process.execPath,
      [fileURLToPath(import.meta.url)],
      (h) => ({
        ONET_HP_WORKER: '1',
        ONET_HP_T0: String(t0),
        ONET_WAN: '1',
        ONET_JOB_TOKEN: 'bench-token',
        ONET_P2P_BOOTSTRAP: addr,
        ONET_P2P_MDNS: '0',
        ONET_STATE_DIR: join(state, `h${h}`),
        ONET_CONNECT_TIMEOUT: '60',
      }),
      180_000,
      (dirs) => {
        // From the coordinators' logs: how long the meeting and the hole punching took.
        for (const d of dirs)
          for (const j of readdirSync(d)) {
            const f = join(d, j, 'coord.log');
            const log = existsSync(f) ? readFileSync(f, 'utf8') : '';
            const met = /met over libp2p in (\d+) ms/.exec(log);
            const punch = /hole punching: .*\((\d+) ms\)/.exec(log);
            if (met) meetMs = Math.max(meetMs, Number(met[1]));
            if (punch) punchMs = Math.max(punchMs, Number(punch[1]));
          }
        // ONET_HP_LOGS=/tmp/x: keep each host's coordinator log and each rank's output there.
        const keep = process.env.ONET_HP_LOGS;
        if (!keep) return;
        dirs.forEach((d, h) => {
          for (const j of readdirSync(d)) {
            const f = join(d, j, 'coord.log');
            if (existsSync(f)) writeFileSync(`${keep}.${kind}.h${h}.coord.log`, readFileSync(f));
          }
        });
      },
    );
    // What the relay host received: the tunnel's bytes cross it only while the link is relayed.
    const relayNs = kind === 'lan' ? net.hosts[2].ns : net.pub.ns;
    const relayMB =
      Number(execFileSync('ip', ['netns', 'exec', relayNs, 'cat', '/sys/class/net/eth0/statistics/rx_bytes'])) / 1e6;
    if (process.env.ONET_HP_LOGS)
      for (const r of out) writeFileSync(`${process.env.ONET_HP_LOGS}.${kind}.r${r.rank}.out`, r.out);
    return { res: resultsOf(out), relayMB, meetMs, punchMs };
  } finally {
    relay?.kill('SIGKILL');
    net.destroy();
    rmSync(state, { recursive: true, force: true });
  }
}

for (const kind of kinds)
  for (let i = 0; i < runs; i++) {
    const { res, relayMB, meetMs, punchMs } = await once(kind);
    const bad = res.find((r) => r.missing || !r.exact);
    if (bad) console.log(`${kind}: FAILED ${JSON.stringify(bad).slice(0, 1500)}`);
    else
      console.log(
        `${kind}: start to first allreduce ${Math.max(...res.map((r) => r.firstMs))} ms ` +
          `(meeting ${meetMs} ms, hole punching ${punchMs} ms); ` +
          `16 MiB allreduce busbw ${Math.min(...res.map((r) => r.busbwMBs)).toFixed(1)} MB/s; ` +
          `the relay host received ${relayMB.toFixed(1)} MB`,
      );
  }
