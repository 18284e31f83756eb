#!/usr/bin/env node
// `npm run demo`: train examples/torch/ddp_demo.py on 4 ranks over opennetworks, then the
// same job over gloo, and print the two side by side.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = join(root, '.venv', 'bin', 'python');
const n = Number(process.env.ONET_DEMO_RANKS ?? 4);

function train(backend) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(root, 'bin', 'onet.js'), 'run', '-n', String(n), '--', py, join(root, 'examples/torch/ddp_demo.py'), backend],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let result;
    p.stdout.on('data', (d) => {
      for (const line of String(d).split('\n')) {
        const at = line.indexOf('ONET_DEMO ');
        if (at >= 0) result = JSON.parse(line.slice(at + 10));
        else if (line) process.stdout.write(line.replace(/^\[rank 0\] /, '') + (line.includes('step') && !line.includes(`${30}/30`) ? '' : '\n'));
      }
    });
    p.on('close', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${backend} run failed (exit ${code})`))));
  });
}

const ours = await train('opennetworks');
const gloo = await train('gloo');
console.log(`\n${'backend'.padEnd(14)}${'step (ms)'.padStart(10)}${'allreduce 4 MiB busbw (GB/s)'.padStart(31)}${'final loss'.padStart(12)}`);
for (const r of [ours, gloo]) console.log(`${r.backend.padEnd(14)}${r.stepMs.toFixed(2).padStart(10)}${r.busbwGBs.toFixed(2).padStart(31)}${r.loss.toFixed(4).padStart(12)}`);
console.log(`\nopennetworks vs gloo: ${(gloo.stepMs / ours.stepMs).toFixed(1)}× faster steps, ${(ours.busbwGBs / gloo.busbwGBs).toFixed(1)}× allreduce bandwidth; final weights ${ours.checksum === gloo.checksum ? 'identical' : `differ (checksum ${ours.checksum} vs ${gloo.checksum})`}`);
