#!/usr/bin/env node
// `npm run demo:browser`: two PyTorch ranks and two headless Chromium tabs train one linear model data-parallel.
// Each rank holds a quarter of the data; every step the four gradients are summed with one allreduce (the torch
// ranks through torch.distributed's "opennetworks" backend, the tabs through the browser client over WebSocket)
// and averaged. At the end every rank must hold the same parameters, equal to one process training on the full
// batch (within float tolerance).
//
//   npm run demo:browser                    # the tabs compute their gradients in JavaScript (demo_tab.mjs)
//   npm run demo:browser -- --tabs pyodide  # ... in Python, under Pyodide in the page (demo_tab.py, page_rank.mjs)
//   npm run demo:browser -- --steps 50
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = join(root, '.venv', 'bin', 'python');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const { values: opt } = parseArgs({
  options: { tabs: { type: 'string', default: 'js' }, steps: { type: 'string', default: '30' } },
});
const STEPS = Number(opt.steps);
const TORCH_RANKS = 2;
const TABS = 2;
const D = 8; // features
const ROWS = 16; // per rank
const LR = 0.125; // a power of two: see demo_torch_rank.py

function fail(msg) {
  console.error(`demo:browser: ${msg}`);
  process.exit(1);
}

function prerequisites() {
  if (!['js', 'pyodide'].includes(opt.tabs)) fail(`--tabs ${opt.tabs}: use js or pyodide`);
  if (!Number.isInteger(STEPS) || STEPS < 1 || STEPS > 10_000) fail(`--steps ${opt.steps}: use 1..10000`);
  if (!existsSync(join(root, 'dist', 'index.js'))) fail('dist/ is not built: run `npm run build`');
  if (!existsSync(join(root, 'dist', 'browser', 'opennetworks.js'))) fail('no browser client: run `npm run build:ts`');
  if (!existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}: install it (Debian: apt-get install chromium)`);
  if (!existsSync(py)) fail(`no Python at ${py}: create .venv with torch (see README)`);
}

/** The data set: y = x·w* + b* + noise, from a fixed seed; shard r is rows r·ROWS..(r+1)·ROWS. */
function dataset(world) {
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const f = Math.fround;
  const wTrue = Array.from({ length: D }, (_, j) => f((j % 3) - 1 + 0.25 * j));
  const shards = Array.from({ length: world }, () => {
    const x = Array.from({ length: ROWS }, () => Array.from({ length: D }, () => f(2 * rnd())));
    const y = x.map((row) => f(row.reduce((a, v, j) => a + v * wTrue[j], 0.5) + 0.05 * rnd()));
    return { x, y };
  });
  return { shards, steps: STEPS, lr: LR };
}

/** One process, the whole batch, float64: what data-parallel training must reproduce. */
function reference(cfg) {
  const x = cfg.shards.flatMap((s) => s.x);
  const y = cfg.shards.flatMap((s) => s.y);
  const n = y.length;
  const p = new Float64Array(D + 1);
  for (let step = 0; step < cfg.steps; step++) {
    const g = new Float64Array(D + 1);
    for (let i = 0; i < n; i++) {
      const err = x[i].reduce((a, v, j) => a + v * p[j], p[D]) - y[i];
      for (let j = 0; j < D; j++) g[j] += (2 / n) * err * x[i][j];
      g[D] += (2 / n) * err;
    }
    for (let j = 0; j <= D; j++) p[j] -= cfg.lr * g[j];
  }
  return Array.from(p);
}

/** Serve /demo/ex/* to the tabs from examples/pyodide (routed: never touches the network). */
async function routeDemoFiles(page, origin) {
  const dirs = { ex: join(root, 'examples', 'pyodide') };
  await page.route(`${origin}/demo/**`, (route) => {
    const path = new URL(route.request().url()).pathname.slice('/demo/'.length);
    const [top, ...rest] = path.split('/');
    const file = dirs[top] && normalize(join(dirs[top], ...rest));
    if (!file?.startsWith(dirs[top]) || !existsSync(file)) return route.fulfill({ status: 404, body: path });
    const type = file.endsWith('.mjs') ? 'text/javascript' : file.endsWith('.html') ? 'text/html' : 'text/plain';
    return route.fulfill({ status: 200, contentType: type, body: readFileSync(file) });
  });
}

async function runTab(browser, url, shard, cfg, mode, rank) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const origin = new URL(url).origin;
  // Pyodide mode opens the join page without a token, which it says it cannot use: expected, not shown.
  page.on('pageerror', (e) => {
    if (!/lacks job, rank or token/.test(e.message)) console.error(`[tab rank ${rank}] page error: ${e.message}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[tab rank ${rank}] ${m.text()}`);
  });
  await routeDemoFiles(page, origin);
  if (mode === 'js') {
    await page.goto(url); // the coordinator's join page: joins with the URL's one-time token
    return page.evaluate(
      async ({ shard, cfg }) => {
        const { train } = await import('/demo/ex/demo_tab.mjs');
        const comm = await window.onet.ready;
        const params = await train(comm, shard, cfg);
        await comm.close();
        return params;
      },
      { shard, cfg },
    );
  }
  // Pyodide: the coordinator's join page without a token (it does not join by itself); Python joins with the URL.
  await page.goto(`${origin}/join`);
  // The package comes from the coordinator (/py/opennetworks.zip); only the demo's own files are routed.
  return page.evaluate(async (a) => (await import('/demo/ex/page_rank.mjs')).runPythonRank(a), {
    args: [url, shard, cfg],
    script: '/demo/ex/demo_tab.py',
  });
}

async function main() {
  prerequisites();
  const { chromium } = await import('playwright-core');
  const { launch } = await import('../dist/index.js');
  const world = TORCH_RANKS + TABS;
  const cfg = dataset(world);
  const dir = mkdtempSync(join(tmpdir(), 'onet-demo-browser-'));
  const data = join(dir, 'data.json');
  writeFileSync(data, JSON.stringify(cfg));
  const t0 = Date.now();
  console.log(
    `demo:browser: ${TORCH_RANKS} PyTorch ranks + ${TABS} Chromium tabs (${opt.tabs}), ${ROWS} rows each, ` +
      `${D} features, ${STEPS} steps of full-batch gradient descent (lr ${LR})`,
  );
  const job = await launch({
    nprocs: TORCH_RANKS,
    web: TABS,
    cwd: root,
    cmd: [py, join(root, 'examples', 'pyodide', 'demo_torch_rank.py')],
    env: { DEMO_DATA: data, PYTHONPATH: join(root, 'python'), ONET_LOG: process.env.ONET_LOG ?? 'warn' },
    timeoutMs: 300_000,
  });
  const results = [];
  job.on('log', (e) => {
    const at = e.line.indexOf('ONET_RESULT ');
    if (at >= 0) results.push(JSON.parse(e.line.slice(at + 12)));
    else if (e.rank === 0 || e.stream === 'stderr') console.log(`[torch rank ${e.rank}] ${e.line}`);
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  let tabs;
  try {
    tabs = await Promise.all(
      job.webUrls.map((url, i) => runTab(browser, url, cfg.shards[TORCH_RANKS + i], cfg, opt.tabs, TORCH_RANKS + i)),
    );
  } catch (e) {
    await job.stop();
    throw e;
  } finally {
    await browser.close();
  }
  const exit = await job.wait();
  rmSync(dir, { recursive: true, force: true });
  if (exit.code !== 0) fail(`the torch ranks failed: ${JSON.stringify(exit)}`);
  tabs.forEach((params, i) => results.push({ rank: TORCH_RANKS + i, kind: `tab (${opt.tabs})`, params }));
  results.sort((a, b) => a.rank - b.rank);
  const ref = reference(cfg);
  const maxDiff = (a, b) => Math.max(...a.map((v, j) => Math.abs(v - b[j])));
  console.log(`\n rank  kind            max |params - rank 0|   max |params - full batch (1 process, f64)|`);
  for (const r of results) {
    const toRank0 = maxDiff(r.params, results[0].params).toExponential(2).padStart(20);
    const toFull = maxDiff(r.params, ref).toExponential(2).padStart(20);
    console.log(` ${String(r.rank).padEnd(5)} ${r.kind.padEnd(15)} ${toRank0}   ${toFull}`);
  }
  const same = results.every((r) => maxDiff(r.params, results[0].params) === 0);
  const close = results.every((r) => maxDiff(r.params, ref) < 1e-4);
  console.log(
    `\n${results.length} ranks, ${((Date.now() - t0) / 1000).toFixed(1)} s: parameters ` +
      `${same ? 'identical on every rank' : 'DIFFER between ranks'}, ` +
      `${close ? 'equal to the full-batch run within 1e-4' : 'NOT equal to the full-batch run'}`,
  );
  if (results.length !== world || !same || !close) process.exit(1);
}

main().catch((e) => fail(e?.stack ?? String(e)));
