// Fusion benchmark on network namespaces: 2 "hosts" × 1 rank (src/testing/netns.ts), each rank
// posts N async 1 KiB f32 allreduces (≤ 60 in flight) in --rounds rounds that start on a
// barrier, in --repeat jobs with fusion on (ONET_FUSION_BYTES default) and off (0); prints the
// fastest round, per call, and how many calls the engine fused (all rounds of the last job).
// No assertions: numbers only.
//
//   sudo node bench/fusion.mjs                       # 200 allreduces, 10gbit, no added delay
//   sudo node bench/fusion.mjs --n 1000 --delay 500us --ranks-per-host 2 --repeat 3
//
// Needs root (namespaces, tc), the built addon and dist/ (npm run build).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNet, netemUnavailable, netnsUnavailable } from '../dist/testing/netns.js';
import { resultsOf, runJob } from '../dist/testing/netns_job.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORKER = join(ROOT, 'test/fixtures/fusion_worker.mjs');
const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const n = Number(arg('n', 200)),
  delay = arg('delay', ''),
  rate = arg('rate', '10gbit');
const rph = Number(arg('ranks-per-host', 1)),
  repeat = Number(arg('repeat', 2)),
  rounds = arg('rounds', '5');

const why = netnsUnavailable() || (delay && netemUnavailable());
if (why) {
  console.error(`bench/fusion: ${why}`);
  process.exit(2);
}
const net = createNet(2, delay ? { rate, delay } : { rate });
try {
  const perHost = [rph, rph];
  console.log(
    `${n} async 1 KiB f32 allreduces, 2 hosts × ${rph} rank(s), ${rate}${delay ? `, +${delay} each way` : ''}, best ` +
      `round of ${repeat} × ${rounds}`,
  );
  for (const fusion of ['64MiB', '0']) {
    let best = Infinity,
      fused = 0;
    for (let i = 0; i < repeat; i++) {
      const res = resultsOf(
        await runJob(
          net,
          perHost,
          process.execPath,
          [WORKER],
          {
            ONET_TEST_BENCH: String(n),
            ONET_TEST_ROUNDS: rounds,
            ONET_FUSION_BYTES: fusion,
            ONET_SPIN_US: arg('spin-us', '0'),
            ONET_TIMEOUT: '60',
          },
          120_000,
        ),
      );
      const bad = res.find((r) => r.missing);
      if (bad) throw new Error(`rank ${bad.rank} failed: ${bad.tail}`);
      if (process.argv.includes('--verbose')) console.log(JSON.stringify(res));
      best = Math.min(best, Math.max(...res.map((r) => r.ms)));
      fused = res[0].fused;
    }
    console.log(
      `ONET_FUSION_BYTES=${fusion.padEnd(6)} ${best.toFixed(1).padStart(8)} ms  ` +
        `${((best * 1000) / n).toFixed(1).padStart(7)} µs/allreduce  fused ${fused}`,
    );
  }
} finally {
  net.destroy();
}
