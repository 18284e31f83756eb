// Multi-host benchmark on network namespaces: H "hosts" (src/testing/netns.ts) on one bridge,
// every host's egress shaped with tc tbf to --rate, and the same torch.distributed sweep run
// under torchrun in every namespace for backend opennetworks and for gloo, in the same run.
//
//   sudo node bench/multihost.mjs                      # 3 hosts × 2 ranks, 1gbit, both backends, 2 rounds (~3.5 min)
//   sudo node bench/multihost.mjs --ranks-per-host 1 --rate 2gbit --repeat 1 --json out.json
//   sudo node bench/multihost.mjs --quick --json /tmp/q.json   # 2 hosts × 1 rank, 2 sizes, 1 round (the test's run)
//
// Before the opennetworks runs it measures the link the way a user would (`onet topo --probe`
// from host 0 to host 1) and hands the file to every host as ONET_TOPO_FILE, so the scheduler's
// algorithm and chunk choices are calibrated to the shaped link (--no-probe: default link).
// --explain prints host 0's scheduler plan; --arena allocates opennetworks tensors in shared
// memory (no copy in/out); --tc-stats prints each host's qdisc drops and TCP retransmissions.
//
// Table: per (op, size) the median per-call time over all repetitions, algbw = bytes/time,
// busbw = algbw × the nccl-tests factor for the world's n ranks (all_reduce 2(n−1)/n,
// all_gather (n−1)/n, broadcast 1), gloo's time over ours, and link% = the bytes each host
// actually puts on its shaped link per second (the same factor over H hosts, since ranks of one
// host combine in shared memory first) as a share of --rate. Needs root (namespaces, tc),
// a built addon and dist/ (npm run build), and .venv with torch.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORKER = join(ROOT, 'bench/multihost_worker.py');
const TORCHRUN = join(ROOT, '.venv/bin/torchrun');

const FULL_PLAN = [
  ['all_reduce', 8],
  ['all_reduce', 64 << 10],
  ['all_reduce', 1 << 20],
  ['all_reduce', 16 << 20],
  ['all_reduce', 64 << 20],
  ['all_gather', 16 << 20],
  ['broadcast', 16 << 20],
];
const QUICK_PLAN = [
  ['all_reduce', 8],
  ['all_reduce', 1 << 20],
];

const USAGE =
  'usage: node bench/multihost.mjs [--hosts 3] [--ranks-per-host 2] [--rate 1gbit] [--backends opennetworks,gloo]\n' +
  '       [--repeat 2] [--sizes 8,64KiB,...] [--quick] [--json FILE] [--explain] [--arena] [--tc-stats] [--no-probe] ' +
  '[--env K=V ...] [--timeout 240]';

function fail(msg) {
  console.error(`bench/multihost: ${msg}\n${USAGE}`);
  process.exit(2);
}

function parseBytes(s) {
  const m = /^(\d+)\s*(|b|kib|k|mib|m|gib|g)$/i.exec(String(s).trim());
  if (!m) fail(`${JSON.stringify(s)} is not a byte size; write e.g. 8, 64KiB, 16MiB`);
  return (
    Number(m[1]) *
    { '': 1, b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 }[m[2].toLowerCase()]
  );
}

/** tc rate ("1gbit", "500mbit", "100kbit") → bits per second; tc's "bps" means bytes, so refuse it. */
export function parseRate(s) {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(String(s).trim());
  if (!m) fail(`--rate ${JSON.stringify(s)} is not a tc bit rate; write e.g. 1gbit, 500mbit`);
  return Number(m[1]) * { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2].toLowerCase()];
}

function parseArgs(argv) {
  const o = {
    probe: true,
    hosts: 3,
    rph: 2,
    rate: '1gbit',
    backends: ['opennetworks', 'gloo'],
    repeat: 2,
    plan: FULL_PLAN,
    json: '',
    explain: false,
    env: {},
    timeoutS: 240,
    quick: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i],
      v = () => {
        if (i + 1 >= argv.length) fail(`${a} needs a value`);
        return argv[++i];
      };
    const int = (x, name, min) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < min) fail(`${name} must be an integer ≥ ${min}, got ${x}`);
      return n;
    };
    if (a === '--hosts') o.hosts = int(v(), a, 2);
    else if (a === '--ranks-per-host') o.rph = int(v(), a, 1);
    else if (a === '--rate') o.rate = v();
    else if (a === '--backends')
      o.backends = v()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === '--repeat') o.repeat = int(v(), a, 1);
    else if (a === '--sizes') o.sizes = v().split(',').map(parseBytes);
    else if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = v();
    else if (a === '--explain') o.explain = true;
    else if (a === '--arena') o.arena = true;
    else if (a === '--tc-stats') o.tcStats = true;
    else if (a === '--no-probe') o.probe = false;
    else if (a === '--timeout') o.timeoutS = int(v(), a, 10);
    else if (a === '--env') {
      const kv = v(),
        k = kv.indexOf('=');
      if (k < 1) fail(`--env wants K=V, got ${kv}`);
      o.env[kv.slice(0, k)] = kv.slice(k + 1);
    } else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (o.quick) {
    o.plan = QUICK_PLAN;
    if (!argv.includes('--hosts')) o.hosts = 2;
    if (!argv.includes('--ranks-per-host')) o.rph = 1;
    if (!argv.includes('--repeat')) o.repeat = 1;
  }
  if (o.sizes) o.plan = o.sizes.map((s) => ['all_reduce', s]);
  for (const b of o.backends)
    if (!['opennetworks', 'gloo'].includes(b)) fail(`--backends: ${b} is not opennetworks or gloo`);
  o.rateBps = parseRate(o.rate);
  return o;
}

const factor = (op, n) =>
  n <= 1
    ? 1
    : { all_reduce: (2 * (n - 1)) / n, all_gather: (n - 1) / n, reduce_scatter: (n - 1) / n, broadcast: 1 }[op];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
};

let portSeq = 0;

/** One torchrun job of `backend` across every namespace; resolves with rank 0's JSON. */
async function runBackend(net, o, backend) {
  const port = 31000 + (process.pid % 2000) * 8 + (portSeq++ % 8); // torch's store; ours takes port+1
  const out = join(tmpdir(), `onet-mhbench-${process.pid}-${backend}-${portSeq}.json`);
  const dirs = net.hosts.map(() => mkdtempSync(join(tmpdir(), 'onet-mhbench-host-')));
  const t0 = Date.now();
  const logs = await Promise.all(
    net.hosts.map(
      (_h, i) =>
        new Promise((resolve) => {
          const p = net.spawn(
            i,
            TORCHRUN,
            [
              '--nnodes',
              String(o.hosts),
              '--node-rank',
              String(i),
              '--nproc-per-node',
              String(o.rph),
              '--master-addr',
              net.hosts[0].ip,
              '--master-port',
              String(port),
              WORKER,
              '--backend',
              backend,
              '--plan',
              JSON.stringify(o.plan),
              '--out',
              out,
              ...(o.arena ? ['--arena'] : []),
            ],
            {
              ...(backend === 'opennetworks' && o.topoFile ? { ONET_TOPO_FILE: o.topoFile } : {}),
              ...o.env,
              ONET_RUN_DIR: dirs[i],
              GLOO_SOCKET_IFNAME: 'eth0',
              OMP_NUM_THREADS: '1',
              ...(o.explain ? { ONET_EXPLAIN: '1' } : {}),
            },
          );
          let text = '';
          p.stdout.on('data', (d) => (text += d));
          p.stderr.on('data', (d) => {
            text += d;
            if (i === 0)
              for (const l of String(d).split('\n')) if (l.startsWith(`[${backend}]`)) console.error(`  ${l}`);
          });
          const t = setTimeout(() => {
            text += `\n(killed after ${o.timeoutS} s)`;
            p.kill('SIGKILL');
          }, o.timeoutS * 1000);
          p.on('close', (code) => {
            clearTimeout(t);
            resolve({ code, text });
          });
        }),
    ),
  );
  const wallS = (Date.now() - t0) / 1000;
  const coordLogs = []; // host 0's first
  for (const d of dirs) {
    for (const f of walk(d)) if (f.endsWith('.log')) coordLogs.push(readFileSync(f, 'utf8'));
    rmSync(d, { recursive: true, force: true });
  }
  if (!existsSync(out) || logs.some((l) => l.code !== 0)) {
    const bad = logs.map((l, i) => `--- host ${i} (exit ${l.code}) ---\n${l.text.slice(-2500)}`).join('\n');
    throw new Error(`${backend} run failed:\n${bad}\n${coordLogs.map((l) => l.slice(-1500)).join('\n')}`);
  }
  const res = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out, { force: true });
  res.wallS = wallS;
  res.coordLog = coordLogs;
  return res;
}

/**
 * The link as the product measures it: `onet topo --probe-server` in host 1, `onet topo --probe
 * --json` from host 0 (ping-pong: latency from 8 B, bandwidth from 4 MiB). The file it writes is
 * what a user would record once per cluster and hand every host as ONET_TOPO_FILE.
 */
async function probeLink(net, file) {
  const onet = join(ROOT, 'bin/onet.js');
  const server = net.spawn(1, process.execPath, [onet, 'topo', '--probe-server', '0']);
  try {
    const port = await new Promise((resolve, reject) => {
      let text = '';
      const t = setTimeout(() => reject(new Error(`onet topo --probe-server printed no port: ${text}`)), 20_000);
      server.stdout.on('data', (d) => {
        text += d;
        const m = /listening on port (\d+)/.exec(text);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      server.on('close', (c) => reject(new Error(`onet topo --probe-server exited (${c}): ${text}`)));
    });
    const json = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        net.hosts[0].ns,
        process.execPath,
        onet,
        'topo',
        '--probe',
        '--json',
        '--peers',
        `${net.hosts[1].ip}:${port}`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
    );
    writeFileSync(file, json);
    const t = JSON.parse(json),
      link = t.links.find((l) => l.b === `${net.hosts[1].ip}:${port}`) ?? t.links[0];
    if (!link) throw new Error(`onet topo --probe measured no link: ${json}`);
    return { latencyUs: link.latencyUs, bandwidthGBs: link.bandwidthGBs };
  } finally {
    server.kill('SIGKILL');
  }
}

/** The shaping qdisc's counters and the host's TCP retransmissions (diagnostics for --tc-stats). */
function tcStats(ns) {
  const run = (...a) => {
    try {
      return execFileSync('ip', ['netns', 'exec', ns, ...a], { encoding: 'utf8' });
    } catch (e) {
      return String(e.message);
    }
  };
  const q = run('tc', '-s', 'qdisc', 'show', 'dev', 'eth0').replace(/\s+/g, ' ').trim();
  const snmp = run('cat', '/proc/net/snmp')
    .split('\n')
    .filter((l) => l.startsWith('Tcp:'));
  let retrans = '?';
  if (snmp.length === 2) {
    const k = snmp[0].split(/\s+/),
      v = snmp[1].split(/\s+/);
    retrans = v[k.indexOf('RetransSegs')] + ' of ' + v[k.indexOf('OutSegs')] + ' segments retransmitted';
  }
  return `${q}; ${retrans}`;
}

function* walk(d) {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** Rows of the table from each backend's merged repetitions. */
export function summarize(o, runs) {
  const n = o.hosts * o.rph,
    linkBytesPerS = o.rateBps / 8;
  const rows = [];
  for (const [op, size] of o.plan) {
    const row = { op, size };
    for (const b of o.backends) {
      const reps = runs[b].flatMap((r) => r.rows.filter((x) => x.op === op && x.size === size));
      if (!reps.length) continue;
      const times = reps.flatMap((r) => r.times_us),
        bytes = reps[0].bytes,
        t = median(times);
      const algbw = bytes / (t * 1e-6) / 1e9;
      row[b] = {
        timeUs: t,
        minUs: Math.min(...times),
        maxUs: Math.max(...times),
        algbwGBs: algbw,
        busbwGBs: algbw * factor(op, n),
        linkPct: (100 * (algbw * 1e9 * factor(op, o.hosts))) / linkBytesPerS,
        wrong: reps.reduce((a, r) => a + r.wrong, 0),
        bytes,
        samples: times.length,
      };
    }
    if (row.opennetworks && row.gloo) row.speedup = row.gloo.timeUs / row.opennetworks.timeUs;
    rows.push(row);
  }
  return rows;
}

const fmtSize = (b) => (b >= 1 << 20 ? `${b / (1 << 20)} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
const fmtUs = (us) =>
  us >= 1e5 ? `${(us / 1e3).toFixed(0)} ms` : us >= 1e4 ? `${(us / 1e3).toFixed(1)} ms` : `${us.toFixed(0)} us`;

export function formatTable(_o, rows) {
  const head = [
    'op',
    'size',
    'ours time',
    'ours algbw',
    'ours busbw',
    'ours link%',
    'gloo time',
    'gloo algbw',
    'gloo busbw',
    'gloo link%',
    'gloo/ours',
  ];
  const cell = (r, b) =>
    r[b]
      ? [
          `${fmtUs(r[b].timeUs)} (${fmtUs(r[b].minUs)}–${fmtUs(r[b].maxUs)})`,
          r[b].algbwGBs.toFixed(3),
          r[b].busbwGBs.toFixed(3),
          `${r[b].linkPct.toFixed(0)}%`,
        ]
      : ['—', '—', '—', '—'];
  const body = rows.map((r) => [
    r.op,
    fmtSize(r.size),
    ...cell(r, 'opennetworks'),
    ...cell(r, 'gloo'),
    r.speedup ? `${r.speedup.toFixed(2)}×` : '—',
  ]);
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_h, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...body.map((c) => `| ${c.join(' | ')} |`),
  ];
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { netnsUnavailable, createNet } = await import(join(ROOT, 'dist/testing/netns.js')).catch(() =>
    fail('dist/testing/netns.js is missing: build the TypeScript first (npm run build:ts)'),
  );
  const why = netnsUnavailable();
  if (why) fail(`cannot create the namespace hosts: ${why}`);
  if (!existsSync(TORCHRUN)) fail(`no ${TORCHRUN}: create .venv with torch (see python/README.md)`);
  if (!existsSync(join(ROOT, 'build/Release/onet.node'))) fail('no build/Release/onet.node: run npm run build:native');
  const t0 = Date.now();
  const net = createNet(o.hosts, { rate: o.rate });
  const runs = Object.fromEntries(o.backends.map((b) => [b, []]));
  const explain = [];
  try {
    if (o.probe && o.backends.includes('opennetworks')) {
      o.topoFile = join(tmpdir(), `onet-mhbench-${process.pid}-topo.json`);
      o.link = await probeLink(net, o.topoFile);
      console.error(
        `# probed host 0 → host 1 with \`onet topo --probe\`: ${o.link.latencyUs} µs one-way, ` +
          `${o.link.bandwidthGBs} GB/s; ONET_TOPO_FILE for opennetworks`,
      );
    }
    console.error(
      `# ${o.hosts} hosts × ${o.rph} rank(s), egress tbf ${o.rate} per host, ${o.repeat} round(s) of ` +
        `${o.backends.join(' then ')}`,
    );
    for (let r = 0; r < o.repeat; r++) {
      // Alternate the order each round so neither backend always runs on the warmer machine.
      const order = r % 2 ? [...o.backends].reverse() : o.backends;
      for (const b of order) {
        const res = await runBackend(net, o, b);
        console.error(`# ${b}: round ${r + 1} done in ${res.wallS.toFixed(1)} s (init ${res.init_s.toFixed(1)} s)`);
        if (o.explain && b === 'opennetworks' && r === 0)
          explain.push(
            ...(res.coordLog[0] ?? '')
              .split('\n')
              .filter((l) => /scheduler|^\s+(allreduce|allgather|broadcast|reduce_scatter)\b/.test(l)),
          );
        delete res.coordLog;
        runs[b].push(res);
      }
    }
    if (o.tcStats) for (const h of net.hosts) console.error(`# ${h.ns} egress: ${tcStats(h.ns)}`);
  } finally {
    net.destroy();
    if (o.topoFile) rmSync(o.topoFile, { force: true });
  }
  const rows = summarize(o, runs);
  const wallS = (Date.now() - t0) / 1000;
  console.log(
    `# onet multi-host bench: ${o.hosts} hosts (network namespaces) × ${o.rph} rank(s), each host's egress shaped ` +
      `to ${o.rate} (tc tbf), torch.distributed under torchrun, f32`,
  );
  console.log(
    `# time: median per-call over ${o.repeat} round(s) (range in brackets); busbw: nccl-tests factor for ` +
      `n=${o.hosts * o.rph} ranks; link%: per-host egress bytes/s over ${o.rate}`,
  );
  if (o.link)
    console.log(
      `# opennetworks calibrated from \`onet topo --probe\` (ONET_TOPO_FILE): ${o.link.latencyUs} µs one-way, ` +
        `${o.link.bandwidthGBs} GB/s`,
    );
  console.log(formatTable(o, rows));
  const wrong = rows.flatMap((r) => o.backends.map((b) => r[b]?.wrong ?? 0)).reduce((a, b) => a + b, 0);
  if (wrong) console.log(`# WARNING: ${wrong} wrong element(s) in the checked calls`);
  if (explain.length) console.log(`# coordinator (ONET_EXPLAIN=1):\n${explain.map((l) => `#   ${l}`).join('\n')}`);
  console.log(`# total ${wallS.toFixed(0)} s`);
  if (o.json)
    writeFileSync(
      o.json,
      JSON.stringify(
        {
          hosts: o.hosts,
          ranksPerHost: o.rph,
          rate: o.rate,
          rateBps: o.rateBps,
          repeat: o.repeat,
          probedLink: o.link ?? null,
          env: o.env,
          plan: o.plan,
          wallS,
          rows,
          runs,
        },
        null,
        2,
      ) + '\n',
    );
  return wrong ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (c) => process.exit(c),
    (e) => {
      console.error(`bench/multihost: ${e.stack ?? e}`);
      process.exit(1);
    },
  );
}
