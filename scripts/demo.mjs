#!/usr/bin/env node
// `npm run demo`: train examples/torch/ddp_demo.py (DDP, a synthetic 10-class task) on ONET_DEMO_RANKS ranks
// over opennetworks, then the same job over gloo; print both side by side and how far their final weights are
// apart (the same data and seeds, so only the order in which the backends add gradients differs).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setting } from '../dist/config/settings.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = join(root, '.venv', 'bin', 'python');
const n = setting('demoRanks');
const dir = mkdtempSync(join(tmpdir(), 'onet-demo-'));
const t0 = Date.now();

function train(backend) {
  const weights = join(dir, `${backend}.f32`);
  const cmd = [
    join(root, 'bin', 'onet.js'),
    'run',
    '-n',
    String(n),
    '--',
    py,
    'examples/torch/ddp_demo.py',
    backend,
    weights,
  ];
  return new Promise((resolve, reject) => {
    // The coordinator's start-up notes (ONET_LOG=info) would interleave with the training lines.
    const env = { ...process.env, ONET_LOG: process.env.ONET_LOG ?? 'warn' };
    const p = spawn(process.execPath, cmd, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    // onet run's "N/4 ranks finished" line every 30 s says what the training lines already say.
    p.stderr.on('data', (d) => process.stderr.write(String(d).replace(/^onet run \d+\/\d+ ranks finished.*\n/gm, '')));
    let result;
    let rest = '';
    p.stdout.on('data', (d) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        const at = line.indexOf('ONET_DEMO ');
        if (at >= 0) result = JSON.parse(line.slice(at + 10));
        else if (line) console.log(line.replace(/^\[rank 0\] /, ''));
      }
    });
    p.on('close', (code) => {
      if (code === 0 && result)
        resolve({ ...result, weights: new Float32Array(readFileSync(weights).buffer.slice(0)) });
      else reject(new Error(`the ${backend} run failed (exit ${code}); its output is above`));
    });
  });
}

try {
  const ours = await train('opennetworks');
  const gloo = await train('gloo');
  const cols = ['step (ms)', 'allreduce 4 MiB busbw (GB/s)', 'final loss', 'held-out accuracy'];
  console.log(`\n${'backend'.padEnd(14)}${cols.map((c) => c.padStart(c.length + 3)).join('')}`);
  for (const r of [ours, gloo]) {
    const cells = [r.stepMs.toFixed(2), r.busbwGBs.toFixed(2), r.loss.toFixed(4), r.accuracy.toFixed(3)];
    console.log(`${r.backend.padEnd(14)}${cells.map((v, i) => v.padStart(cols[i].length + 3)).join('')}`);
  }
  const steps = ratio(gloo.stepMs / ours.stepMs, 'faster', 'slower');
  const bw = ratio(ours.busbwGBs / gloo.busbwGBs, 'more', 'less');
  console.log(`\nopennetworks vs gloo on ${n} ranks: steps ${steps}, ${bw} allreduce bandwidth.`);
  console.log(weightsLine(ours.weights, gloo.weights));
  console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s in all)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function ratio(r, more, less) {
  return r >= 1 ? `${r.toFixed(1)}× ${more}` : `${(1 / r).toFixed(1)}× ${less}`;
}

/** Two lines on how far apart the two runs' final weights are, and why. */
function weightsLine(a, b) {
  if (a.length !== b.length)
    return `final weights: ${a.length} vs ${b.length} parameters: the runs trained different models`;
  let differ = 0;
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > 0) differ++;
    if (d > maxDiff) maxDiff = d;
    maxAbs = Math.max(maxAbs, Math.abs(a[i]));
  }
  if (!differ) return `final weights: identical bit for bit (${a.length} parameters).`;
  return (
    `final weights: ${differ} of ${a.length} parameters differ, by at most ${maxDiff.toExponential(1)} ` +
    `(largest weight ${maxAbs.toFixed(2)}).\nWhy: same data and seeds, but the backends add the ${n} ranks' ` +
    `gradients ` +
    'in a different order and float32\naddition is not associative, so the last bits differ and SGD carries them ' +
    'along: the same training, not the same bits.'
  );
}
