// WAN benchmark (issue 15, docs/wan.md "Shaped links"): 2 hosts in network namespaces plus a third
// running `onet relay`, every host's egress shaped with `tc tbf` to --rates, and a one-way delay
// on every TCP connection emulated in user space (this kernel has no sch_netem, nor sch_fq/etf for
// eBPF departure-time pacing): bench/wan_delay_proxy.py in each host namespace, behind an iptables
// REDIRECT of the namespace's outbound TCP. Per rate it runs allreduce of --sizes f32 over:
//
//   direct   ONET_WAN=1, ONET_P2P_TUNNEL=0: the native TCP transport host to host
//   tunnel   ONET_WAN=1, ONET_P2P_TUNNEL=1: native TCP through a libp2p stream over a direct connection
//   relayed  ONET_WAN=1, libp2p only through the relay's circuit and an unreachable data address
//            (ONET_TEST_ADVERTISE=192.0.2.1:…): tunnelled through `onet relay`
//   gloo     torch.distributed gloo between the same namespaces (direct)
//
// and reports busbw = 2(P−1)/P·S/t (P = 2: S/t) as a share of the link rate, and the time from
// process start to the first completed collective. Needs root (namespaces, tc, iptables), dist/
// and the addon (npm run build), .venv with torch for gloo; without root it says why and exits 0.
//
//   sudo node bench/wan.mjs                          # 100 and 500 Mbit/s, 10 ms each way, 16+64 MiB (~6 min)
//   sudo node bench/wan.mjs --quick                  # 100 Mbit/s, direct + relayed, 16 MiB (~1 min)
//   sudo node bench/wan.mjs --rates 200 --delay-ms 0 --paths direct,gloo --json /tmp/wan.json
//   (--logs DIR keeps every coordinator's log there)
//
// The relay host's egress is unshaped unless --relay-rate (Mbit/s): a relayed byte crosses it once
// per direction of the allreduce, so a relay with the hosts' own rate caps relayed busbw at 50 %.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ONET = join(ROOT, 'bin/onet.js');
const PY = join(ROOT, '.venv/bin/python');
const MiB = 1 << 20;
const PROXY_PORT = 15001;
const NOWHERE = { ONET_BOOTSTRAP: '192.0.2.1:9', MASTER_ADDR: '192.0.2.1', MASTER_PORT: '8' };

function args(argv) {
  const o = {
    rates: [100, 500],
    delayMs: 10,
    relayRate: 0,
    paths: ['direct', 'tunnel', 'relayed', 'gloo'],
    sizes: [16, 64],
    reps: [3, 2],
    warm: 1,
    json: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const nums = (s, what) =>
      s.split(',').map((x) => {
        const n = Number(x);
        if (!Number.isFinite(n) || n < 0) throw new Error(`${what}: '${x}' is not a number`);
        return n;
      });
    if (a === '--rates') o.rates = nums(next(), '--rates (Mbit/s)');
    else if (a === '--delay-ms') o.delayMs = nums(next(), '--delay-ms')[0];
    else if (a === '--relay-rate') o.relayRate = nums(next(), '--relay-rate (Mbit/s)')[0];
    else if (a === '--paths') o.paths = next().split(',');
    else if (a === '--sizes') o.sizes = nums(next(), '--sizes (MiB)');
    else if (a === '--reps') o.reps = nums(next(), '--reps');
    else if (a === '--warm') o.warm = nums(next(), '--warm')[0];
    else if (a === '--logs') o.logs = next();
    else if (a === '--json') o.json = argv[i + 1] && !argv[i + 1].startsWith('--') ? next() : '-';
    else if (a === '--quick') Object.assign(o, { rates: [100], paths: ['direct', 'relayed'], sizes: [16], reps: [3] });
    else throw new Error(`unknown option ${a}; see the comment at the top of bench/wan.mjs`);
  }
  const bad = o.paths.filter((p) => !['direct', 'tunnel', 'relayed', 'gloo'].includes(p));
  if (bad.length) throw new Error(`--paths: unknown ${bad.join(', ')} (direct, tunnel, relayed, gloo)`);
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** `onet relay` in host 2's namespace; resolves with its {peerId, addrs} line. */
function startRelay(net, dir) {
  const p = net.spawn(2, process.execPath, [ONET, 'relay', '--json', '--listen', `/ip4/${net.hosts[2].ip}/tcp/0`], {
    ONET_STATE_DIR: dir,
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`onet relay printed nothing in 30 s: ${out}`));
    }, 30_000);
    p.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve({ ...JSON.parse(out.slice(0, nl)), proc: p });
      }
    });
    p.stderr.on('data', (d) => (out += d));
  });
}

/** The delay proxy in host i's namespace and the iptables REDIRECT of its outbound TCP to the subnet. */
async function startDelay(net, i, delayMs) {
  const h = net.hosts[i];
  const subnet = `${h.ip.split('.').slice(0, 3).join('.')}.0/24`;
  const p = net.spawn(i, PY, [join(ROOT, 'bench/wan_delay_proxy.py'), String(PROXY_PORT), String(delayMs)]);
  await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`delay proxy did not start: ${out}`));
    }, 15_000);
    const on = (d) => {
      out += d;
      if (out.includes('delay proxy on')) {
        clearTimeout(t);
        resolve();
      }
    };
    p.stdout.on('data', on);
    p.stderr.on('data', on);
  });
  const ipt = (...a) => execFileSync('ip', ['netns', 'exec', h.ns, 'iptables', '-t', 'nat', ...a]);
  try {
    ipt('-A', 'OUTPUT', '-p', 'tcp', '-d', subnet, '-m', 'mark', '--mark', '1', '-j', 'RETURN');
    ipt('-A', 'OUTPUT', '-p', 'tcp', '-d', h.ip, '-j', 'RETURN');
    ipt('-A', 'OUTPUT', '-p', 'tcp', '-d', subnet, '-j', 'REDIRECT', '--to-ports', String(PROXY_PORT));
  } catch (e) {
    p.kill('SIGKILL');
    throw e;
  }
  return p;
}

let glooPort = 29500 + (process.pid % 400);

/** Environment of host h for one path. */
function envFor(path, h, o, relay, state, host0) {
  const common = {
    ONET_WAN_BENCH_SIZES: o.sizes.map((s) => s * MiB).join(','),
    ONET_WAN_BENCH_REPS: o.reps.join(','),
    ONET_WAN_BENCH_WARM: String(o.warm),
    ONET_WAN_BENCH_T0: String(Date.now()),
  };
  if (path === 'gloo')
    return { ...common, MASTER_ADDR: host0, MASTER_PORT: String(glooPort), GLOO_SOCKET_IFNAME: 'eth0' };
  const wan = {
    ...common,
    ...NOWHERE,
    ONET_WAN: '1',
    ONET_JOB_TOKEN: 'wan-bench-token',
    ONET_P2P_BOOTSTRAP: relay.addrs[0],
    ONET_P2P_MDNS: '0',
    ONET_STATE_DIR: join(state, `${path}${h}`),
    ONET_TIMEOUT: '120',
    ONET_CONNECT_TIMEOUT: '60',
    // libp2p's connection monitor logs (to coord.log) when it aborts a connection whose ping timed out.
    DEBUG: 'libp2p:connection-monitor:error',
  };
  if (path === 'direct') return { ...wan, ONET_P2P_TUNNEL: '0' };
  if (path === 'tunnel') return { ...wan, ONET_P2P_TUNNEL: '1' };
  return {
    ...wan,
    ONET_P2P_LISTEN: `${relay.addrs[0]}/p2p-circuit`,
    ONET_TEST_ADVERTISE: `192.0.2.1:${1001 + h}`,
  };
}

async function runPath(net, runJob, resultsOf, path, o, relay, state) {
  const hosts = { hosts: net.hosts.slice(0, 2), spawn: net.spawn };
  const [cmd, argv] =
    path === 'gloo'
      ? [PY, [join(ROOT, 'bench/wan_gloo.py')]]
      : [process.execPath, [join(ROOT, 'bench/wan_worker.mjs')]];
  const load0 = loadavg()[0];
  glooPort++;
  let tunnelled = 0;
  const warnings = [];
  let monitorAborts = 0;
  const logs = (dirs) => {
    for (const d of dirs)
      for (const j of readdirSync(d)) {
        const f = join(d, j, 'coord.log');
        const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
        if (o.logs) writeFileSync(join(o.logs, `${path}-${basename(d)}.log`), text);
        if (/a tunnel over libp2p/.test(text)) tunnelled++;
        warnings.push(...text.split('\n').filter((l) => /\bwarn\b|aborting connection/i.test(l)));
        monitorAborts += (text.match(/aborting connection due to ping failure/g) ?? []).length;
      }
  };
  const env = (h) => envFor(path, h, o, relay, state, net.hosts[0].ip);
  const runs = await runJob(hosts, [1, 1], cmd, argv, env, 300_000, logs);
  const res = resultsOf(runs);
  const bad = res.find((r) => r.missing || r.wrong);
  if (bad) {
    let why = bad.wrong ?? (/OnetError: [^\n]*/.exec(bad.tail)?.[0] || `rank ${bad.rank} printed no result`);
    if (monitorAborts)
      why = `libp2p's connection monitor aborted ${monitorAborts} connection(s) (ping > its timeout); then ${why}`;
    // The sizes done before the failure (ONET_PARTIAL lines of rank 0).
    const partial = runs[0].out
      .split('\n')
      .filter((l) => l.startsWith('ONET_PARTIAL '))
      .map((l) => JSON.parse(l.slice(13)))
      .pop();
    return { path, error: why, log: warnings.slice(-12), tail: bad.tail, partial, load: [load0, loadavg()[0]] };
  }
  const want = path === 'tunnel' || path === 'relayed' ? 2 : 0;
  if (path !== 'gloo' && tunnelled !== want)
    return { path, error: `${tunnelled} of 2 coordinators tunnelled, expected ${want}: the path is not ${path}` };
  return { path, firstMs: Math.max(...res.map((r) => r.firstMs)), times: res[0].times, load: [load0, loadavg()[0]] };
}

async function main() {
  const o = args(process.argv.slice(2));
  const { natUnavailable, createNet } = await import('../dist/testing/netns.js');
  const why = natUnavailable();
  if (why) {
    console.log(`bench/wan.mjs: skipped: ${why} (run as root with iproute2 and iptables)`);
    return;
  }
  const { runJob, resultsOf } = await import('../dist/testing/job.js');
  const net = createNet(3);
  const state = mkdtempSync(join(tmpdir(), 'onet-wanbench-'));
  const procs = [];
  const rows = [];
  const runsOut = [];
  const loads = [];
  try {
    if (o.delayMs > 0) for (const i of [0, 1]) procs.push(await startDelay(net, i, o.delayMs));
    const relay = await startRelay(net, join(state, 'relay'));
    procs.push(relay.proc);
    for (const rate of o.rates) {
      for (const i of [0, 1]) net.shape(i, { rate: `${rate}mbit` });
      if (o.relayRate) net.shape(2, { rate: `${o.relayRate}mbit` });
      const linkBps = (rate * 1e6) / 8;
      for (const path of o.paths) {
        const t0 = Date.now();
        const r = await runPath(net, runJob, resultsOf, path, o, relay, state);
        const wall = (Date.now() - t0) / 1000;
        if (r.load) loads.push(...r.load);
        runsOut.push({ rate, delayMs: o.delayMs, ...r, wallS: wall });
        if (r.error) console.error(`${rate} Mbit/s ${path}: FAILED: ${r.error}\n  ${(r.log ?? []).join('\n  ')}`);
        const done = r.error ? (r.partial ?? { times: {} }) : r;
        for (const mib of o.sizes) {
          const ts = done.times[mib * MiB];
          if (!ts?.length) {
            rows.push({ rate, path, sizeMiB: mib, error: String(r.error).slice(0, 140) });
            continue;
          }
          const bw = ts.map((t) => (mib * MiB) / t); // 2(P−1)/P = 1 for P = 2
          const row = {
            rate,
            delayMs: o.delayMs,
            path,
            sizeMiB: mib,
            reps: ts.length,
            busbwMBs: median(bw) / 1e6,
            minMBs: Math.min(...bw) / 1e6,
            maxMBs: Math.max(...bw) / 1e6,
            share: median(bw) / linkBps,
            firstMs: done.firstMs,
            load: r.load,
          };
          rows.push(row);
          console.error(
            `${rate} Mbit/s ${path} ${mib} MiB: busbw ${row.busbwMBs.toFixed(1)} MB/s = ` +
              `${(row.share * 100).toFixed(0)} % of the link; first collective ${done.firstMs} ms; ` +
              `load ${r.load.map((x) => x.toFixed(1)).join('→')}; ${wall.toFixed(0)} s`,
          );
        }
      }
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    net.destroy();
    rmSync(state, { recursive: true, force: true });
  }
  const cmd = `node bench/wan.mjs ${process.argv.slice(2).join(' ')}`.trim();
  const lines = [
    `\`${cmd}\` — 2 hosts (1 rank each) + relay in network namespaces, tc tbf on both hosts' egress, ` +
      `${o.delayMs ? `${o.delayMs} ms each way per TCP connection (user-space delay proxy)` : 'no delay'}, ` +
      `relay egress ${o.relayRate ? `${o.relayRate} Mbit/s` : 'unshaped'}, ${o.warm} warm-up, ` +
      `load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    '',
    '| link | data path | size | busbw MB/s (median, min–max) | share of link | first collective |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) =>
      r.error
        ? `| ${r.rate} Mbit/s | ${r.path} | ${r.sizeMiB} MiB | failed: ${r.error} | | |`
        : `| ${r.rate} Mbit/s | ${r.path} | ${r.sizeMiB} MiB ×${r.reps} | ${r.busbwMBs.toFixed(1)} ` +
          `(${r.minMBs.toFixed(1)}–${r.maxMBs.toFixed(1)}) | ${(r.share * 100).toFixed(0)} % | ${r.firstMs} ms |`,
    ),
  ];
  console.log(lines.join('\n'));
  const out = {
    command: cmd,
    delayMs: o.delayMs,
    loadavg: [Math.min(...loads), Math.max(...loads)],
    rows,
    runs: runsOut,
  };
  if (o.json === '-') console.log(JSON.stringify(out));
  else if (o.json) writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e) => {
  console.error(`bench/wan.mjs: ${e.message}`);
  process.exit(1);
});
