// A Pyodide rank (src/web/pyodide_node.ts) killed with a collective in flight: the CPython ranks of the job, one
// waiting inside that collective and one arriving after the kill, get AbortedError naming the dead rank
// (examples/pyodide/abort_wasm.py and abort_rank.py).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launch } from '../src/api/launch';
import { ROOT, results } from './helpers';

const PY = join(ROOT, '.venv', 'bin', 'python');
const LAUNCHER = join(ROOT, 'dist', 'web', 'pyodide_node.js');
const EX = join(ROOT, 'examples', 'pyodide');

function pyodideWhy(): string {
  if (!existsSync(join(ROOT, 'node_modules', 'pyodide', 'pyodide.asm.wasm')))
    return 'the pyodide npm package is not installed (npm install)';
  if (!existsSync(LAUNCHER)) return 'dist/web/pyodide_node.js is not built (npm run build:ts)';
  if (!existsSync(join(ROOT, 'build', 'Release', 'onet.node'))) return 'the native addon is not built';
  const py = spawnSync(PY, ['-c', 'import numpy, zmq'], { encoding: 'utf8' });
  if (py.status !== 0) return `.venv python lacks numpy/pyzmq: ${py.stderr.trim().split('\n').pop()}`;
  return '';
}

const why = pyodideWhy();

describe.skipIf(!!why)(`a Pyodide rank killed mid-collective${why ? ` (skipped: ${why})` : ''}`, () => {
  it('fails the other ranks with AbortedError naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onet-pyodide-abort-'));
    const job = await launch({
      nprocs: 2,
      web: 1,
      cwd: EX,
      cmd: [PY, 'abort_rank.py'],
      env: { PYTHONPATH: join(ROOT, 'python'), ONET_TIMEOUT: '60', ABORT_DIR: dir },
      timeoutMs: 90_000,
      coordinatorLog: () => {},
    });
    let logs = '';
    job.on('log', (e) => (logs += `[${e.rank}] ${e.line}\n`));
    let out = '';
    const wasm = spawn(process.execPath, [LAUNCHER, job.webUrls[0], join(EX, 'abort_wasm.py')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const posted = new Promise<void>((resolve) => {
      const look = (d: Buffer) => {
        out += d;
        if (out.includes('ONET_POSTED')) resolve();
      };
      wasm.stdout.on('data', look);
      wasm.stderr.on('data', look);
    });
    const closed = new Promise<string | null>((r) => wasm.on('close', (_c, sig) => r(sig)));
    const killer = setTimeout(() => wasm.kill('SIGKILL'), 60_000);
    await Promise.race([posted, closed]);
    wasm.kill('SIGKILL');
    clearTimeout(killer);
    const signal = await closed;
    writeFileSync(join(dir, 'killed'), ''); // now rank 0 posts its allreduce, after the death
    const exit = await job.wait();
    rmSync(dir, { recursive: true, force: true });
    const all = `${logs}--- pyodide rank (${signal})\n${out.slice(-3000)}`;
    expect(out, all).toContain('ONET_POSTED 2');
    expect(signal).toBe('SIGKILL');
    const res = results(logs).sort((a, b) => a.rank - b.rank);
    expect(
      res.map((r) => [r.rank, r.error, r.code, r.ranks]),
      all,
    ).toEqual([
      [0, 'AbortedError', 'EABORTED', [2]],
      [1, 'AbortedError', 'EABORTED', [2]],
    ]);
    for (const r of res) expect(r.message, all).toMatch(/\b2\b/);
    // Both name the collective they were in: the job's second allreduce (rank 1 waited in it; rank 0 came late).
    for (const r of res) expect(r.message, all).toMatch(/^rank [01]: allreduce #2: web rank 2 /);
    expect(exit.code, all).toBe(0);
  }, 120_000);
});
