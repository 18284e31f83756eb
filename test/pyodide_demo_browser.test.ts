// `npm run demo:browser` (scripts/demo-browser.mjs) as a test, few steps: two PyTorch ranks and two Chromium tabs
// (gradients in JavaScript) train one model; the script exits 0 only when all four end with identical parameters
// equal to the full-batch run. The Pyodide-in-page mode (--tabs pyodide) is the same path with Python in the tabs;
// it is left to the demo (it loads Pyodide in two tabs: about a minute on 2 busy cores).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const PY = join(ROOT, '.venv', 'bin', 'python');

function why(): string {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (!existsSync(join(ROOT, 'dist', 'browser', 'opennetworks.js'))) return 'the browser client is not built';
  if (!existsSync(join(ROOT, 'build', 'Release', 'onet.node'))) return 'the native addon is not built';
  if (spawnSync(PY, ['-c', 'import torch'], { timeout: 60_000 }).status !== 0) return 'no torch in .venv';
  return '';
}
const skip = why();

describe.skipIf(!!skip)(`npm run demo:browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('trains 2 torch ranks and 2 tabs to identical parameters equal to the full-batch run', async () => {
    const p = spawn(process.execPath, [join(ROOT, 'scripts', 'demo-browser.mjs'), '--steps', '5'], {
      cwd: ROOT,
      env: { ...process.env, ONET_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), 150_000);
    const code = await new Promise<number | null>((r) => p.on('close', r));
    clearTimeout(killer);
    expect(out).toMatch(/step +5\/5 +mean loss over all 4 ranks/);
    expect(out).toContain('parameters identical on every rank, equal to the full-batch run within 1e-4');
    expect(out.match(/^ [0-3] +(torch|tab \(js\)) +0\.00e\+0 /gm), out).toHaveLength(4);
    expect(code, out).toBe(0);
  }, 180_000);
});
