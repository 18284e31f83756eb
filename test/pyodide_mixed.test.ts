// Python in WebAssembly as a rank of a mixed job: 2 CPython ranks (shared memory), 1 Node rank, 1 Pyodide rank
// on a Node host (src/web/pyodide_node.ts, over the browser client's WebSocket) and, where Chromium is installed,
// 1 browser tab run every collective of examples/pyodide/cases.py (cases.mjs for JavaScript) for f32, f64, i32
// and bf16 at 0, 1, 4097 elements (1<<20 for allreduce and f32 allgather), each rank checking its results bit for
// bit against the reference.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { launch } from '../src/api/launch';
import { ROOT, results } from './helpers';

const PY = join(ROOT, '.venv', 'bin', 'python');
const LAUNCHER = join(ROOT, 'dist', 'web', 'pyodide_node.js');
const EX = join(ROOT, 'examples', 'pyodide');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'];

/** Why this machine cannot run Pyodide ranks, or '' when it can. */
function pyodideWhy(): string {
  if (!existsSync(join(ROOT, 'node_modules', 'pyodide', 'pyodide.asm.wasm')))
    return 'the pyodide npm package is not installed (npm install)';
  if (!existsSync(LAUNCHER)) return 'dist/web/pyodide_node.js is not built (npm run build:ts)';
  if (!existsSync(join(ROOT, 'dist', 'browser', 'opennetworks.js')) && !existsSync(join(ROOT, 'dist/browser/index.js')))
    return 'the browser client is not built (npm run build:ts)';
  if (!existsSync(join(ROOT, 'build', 'Release', 'onet.node'))) return 'the native addon is not built';
  const py = spawnSync(PY, ['-c', 'import numpy, ml_dtypes, zmq'], { encoding: 'utf8' });
  if (py.status !== 0) return `.venv python lacks numpy/ml_dtypes/pyzmq: ${py.stderr.trim().split('\n').pop()}`;
  return '';
}

const why = pyodideWhy();

function pyodideRank(url: string, script: string, out: { text: string }): ChildProcess {
  const p = spawn(process.execPath, [LAUNCHER, url, script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d) => (out.text += d));
  p.stderr!.on('data', (d) => (out.text += d));
  return p;
}

describe.skipIf(!!why)(`a Pyodide rank in a mixed job${why ? ` (skipped: ${why})` : ''}`, () => {
  const tab = existsSync(CHROMIUM);
  it(`runs every collective exactly with 2 CPython ranks, 1 Node rank${tab ? ' and 1 browser tab' : ''}`, async () => {
    const job = await launch({
      nprocs: 3,
      web: tab ? 2 : 1,
      cwd: EX,
      // Ranks 0 and 1: CPython; rank 2: Node; web ranks 3 (Pyodide) and 4 (the tab): below.
      cmd: [
        'sh',
        '-c',
        `if [ "$RANK" = 2 ]; then exec "${process.execPath}" mixed_rank.mjs; else exec "${PY}" mixed_rank.py; fi`,
      ],
      env: { PYTHONPATH: join(ROOT, 'python'), ONET_TIMEOUT: '60', ONET_ARENA_BYTES: '256MiB' },
      timeoutMs: 150_000,
      coordinatorLog: () => {},
    });
    let logs = '';
    job.on('log', (e) => (logs += `[${e.rank}] ${e.line}\n`));
    expect(job.webUrls).toHaveLength(tab ? 2 : 1);
    const out = { text: '' };
    const wasm = pyodideRank(job.webUrls[0], join(EX, 'collectives.py'), out);
    const killer = setTimeout(() => wasm.kill('SIGKILL'), 150_000);
    let browser: Browser | undefined;
    const tabResult = async () => {
      if (!tab) return [];
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      const url = job.webUrls[1];
      await page.route(`${new URL(url).origin}/cases/cases.mjs`, (r) =>
        r.fulfill({ contentType: 'text/javascript', body: readFileSync(join(EX, 'cases.mjs')) }),
      );
      await page.goto(url); // the coordinator's join page joins with the URL's token
      return [
        // A string, not a function: vitest rewrites import() in test code, and this one runs in the page.
        await page.evaluate(`(async () => {
          const { runAll } = await import('/cases/cases.mjs');
          const comm = await window.onet.ready;
          const r = await runAll(comm);
          await comm.close();
          return { rank: comm.rank, lang: 'browser', ...r };
        })()`),
      ];
    };
    const [code, exit, fromTab] = await Promise.all([
      new Promise<number | null>((r) => wasm.on('close', (c) => r(c))),
      job.wait(),
      tabResult().finally(() => browser?.close()),
    ]);
    clearTimeout(killer);
    const all = `${logs}--- pyodide rank (exit ${code})\n${out.text.slice(-3000)}`;
    const res = [...results(logs), ...results(out.text), ...fromTab].sort((a, b) => a.rank - b.rank);
    expect(
      res.map((r) => [r.rank, r.lang]),
      all,
    ).toEqual([[0, 'python'], [1, 'python'], [2, 'node'], [3, 'pyodide'], ...(tab ? [[4, 'browser']] : [])]);
    for (const r of res) {
      expect(r.failed, `${r.lang} rank ${r.rank}\n${all}`).toEqual([]);
      expect(r.ran).toBe(78); // 6 collectives x 4 dtypes x 3 counts + 5 at 1<<20 + 1 barrier
    }
    expect(code, all).toBe(0);
    expect(exit.code, all).toBe(0);
  }, 180_000);

  it("runs the README's recipe: onet run --web, then examples/pyodide/allreduce.py on a Node host", async () => {
    const cmd = [join(ROOT, 'bin', 'onet.js'), 'run', '-n', '1', '--web', '1', '--', PY, 'allreduce_peer.py'];
    const env = { ...process.env, PYTHONPATH: join(ROOT, 'python'), ONET_LOG: 'warn' };
    const onet = spawn(process.execPath, cmd, { cwd: EX, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const url = new Promise<string>((resolve) => {
      const look = (d: Buffer) => {
        text += d;
        const m = /rank 1 \(browser\) joins at (\S+)/.exec(text);
        if (m) resolve(m[1]);
      };
      onet.stdout.on('data', look);
      onet.stderr.on('data', look);
    });
    const onetDone = new Promise<number | null>((r) => onet.on('close', r));
    const killer = setTimeout(() => onet.kill('SIGKILL'), 120_000);
    const out = { text: '' };
    const first = await Promise.race([url, onetDone.then(() => '')]);
    expect(first, text).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/join#job=/);
    const wasm = pyodideRank(first, join(EX, 'allreduce.py'), out);
    const [wasmCode, onetCode] = await Promise.all([new Promise<number | null>((r) => wasm.on('close', r)), onetDone]);
    clearTimeout(killer);
    const all = `${text}\n--- pyodide\n${out.text}`;
    expect(out.text, all).toContain('rank 1 of 2 (pyodide): [3.0, 3.0, 3.0, 3.0]');
    expect(text, all).toContain('rank 0 of 2 (python): [3.0, 3.0, 3.0, 3.0]');
    expect([wasmCode, onetCode], all).toEqual([0, 0]);
  }, 150_000);
});
