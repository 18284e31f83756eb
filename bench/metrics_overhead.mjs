// Overhead of telemetry on the 8-byte allreduce latency: `onet bench` (2 Node ranks, f32,
// data in the arena) run alternately with telemetry off and on (ONET_METRICS_PORT=0: native
// counters, histograms and the straggler window, polled by JS once a second, /metrics served),
// and optionally with ONET_TRACE as well. Interleaved pairs, median of each side.
//   node bench/metrics_overhead.mjs [--pairs 7] [--iters 20000] [--nprocs 2] [--trace]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (k, d) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : d;
};
const pairs = Number(arg('--pairs', 7)),
  iters = arg('--iters', '20000'),
  nprocs = arg('--nprocs', '2');
const withTrace = process.argv.includes('--trace');
const tmp = mkdtempSync(join(tmpdir(), 'onet-overhead-'));

const failures = [];
function once(on, retry = true) {
  const env = { ...process.env };
  delete env.ONET_METRICS_PORT;
  delete env.ONET_DASHBOARD_PORT;
  delete env.ONET_TRACE;
  if (on) env.ONET_METRICS_PORT = '0';
  if (on && withTrace) env.ONET_TRACE = join(tmp, 'trace.json');
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'bin', 'onet.js'),
      'bench',
      '-n',
      nprocs,
      '--min',
      '8',
      '--max',
      '8',
      '--ops',
      'allreduce',
      '--iters',
      iters,
      '--json',
    ],
    { env, encoding: 'utf8' },
  );
  if (r.status !== 0) {
    // A failed run (a rank crashed) is retried once and reported; it says nothing about telemetry.
    failures.push({ on, stderr: r.stderr.split('\n').slice(0, 3).join(' | ') });
    if (retry) return once(on, false);
    throw new Error(`onet bench failed twice: ${r.stderr}`);
  }
  return JSON.parse(r.stdout).rows[0].timeUs;
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const off = [],
  on = [];
for (let i = 0; i < pairs; i++) {
  // Alternate which side goes first so drift on a shared machine hits both equally.
  if (i % 2) {
    on.push(once(true));
    off.push(once(false));
  } else {
    off.push(once(false));
    on.push(once(true));
  }
  process.stderr.write(`pair ${i + 1}/${pairs}: off ${off[i].toFixed(2)} us, on ${on[i].toFixed(2)} us\n`);
}
rmSync(tmp, { recursive: true, force: true });
const mOff = median(off),
  mOn = median(on);
const result = {
  nprocs: Number(nprocs),
  iters: Number(iters),
  pairs,
  trace: withTrace,
  offUs: off,
  onUs: on,
  medianOffUs: mOff,
  medianOnUs: mOn,
  failedRuns: failures,
  overheadPct: (mOn / mOff - 1) * 100,
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `8-byte allreduce, ${nprocs} ranks: telemetry off ${mOff.toFixed(2)} us, on${withTrace ? ' (+trace)' : ''} ` +
    `${mOn.toFixed(2)} us: ${result.overheadPct >= 0 ? '+' : ''}${result.overheadPct.toFixed(1)}%`,
);
