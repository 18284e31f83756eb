// A Python rank in a real page with nothing but the coordinator: headless Chromium opens the coordinator's
// /pyodide.html with a join URL's fragment; the page loads Pyodide from /pyodide/ and the package from
// /py/opennetworks.zip, and joins only when told to run code (examples/pyodide/allreduce.py, as the README's
// recipe does). A CPython rank (examples/pyodide/allreduce_peer.py) and a Node web rank run the same allreduce.
// Skipped without /usr/bin/chromium (apt-get install chromium), Pyodide, the built client or .venv's numpy/pyzmq.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers';
import { joinNode, type WebJob, webJob } from './web_helpers';

const CHROMIUM = '/usr/bin/chromium';
const PY = join(ROOT, '.venv', 'bin', 'python');
const EX = join(ROOT, 'examples', 'pyodide');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'];

function skipWhy(): string {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is absent; apt-get install chromium`;
  if (!existsSync(join(ROOT, 'node_modules', 'pyodide', 'pyodide.asm.wasm')))
    return 'the pyodide npm package is absent';
  if (!existsSync(join(ROOT, 'dist', 'browser', 'opennetworks.js'))) return 'no browser client: npm run build:ts';
  if (!existsSync(join(ROOT, 'build', 'Release', 'onet.node'))) return 'the native addon is not built';
  if (spawnSync(PY, ['-c', 'import numpy, zmq']).status !== 0) return '.venv python lacks numpy/pyzmq';
  return '';
}
const why = skipWhy();

/** The names in a zip's central directory. */
function zipNames(zip: Buffer): string[] {
  const names: string[] = [];
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const n = zip.readUInt16LE(at + 28);
    names.push(zip.toString('utf8', at + 46, at + 46 + n));
    at += 46 + n + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return names;
}

describe.skipIf(!!why)(`a Pyodide rank in a page of the coordinator${why ? ` (SKIPPED: ${why})` : ''}`, () => {
  let wj: WebJob | undefined;
  let ctx: any;
  let profile = '';
  afterAll(async () => {
    await ctx?.close();
    await wj?.done();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('joins from /pyodide.html only when run, next to a CPython and a Node web rank', async () => {
    const { chromium } = await import('playwright-core');
    wj = await webJob(1, 2, [PY, join(EX, 'allreduce_peer.py')], { PYTHONPATH: join(ROOT, 'python') });
    // Rank 2: a Node web rank (the browser client over `ws`) in the same allreduce.
    const node = joinNode(wj.urls[1]).then(async (comm) => {
      const y = await comm.allreduce(new Float32Array(4).fill(3), { op: 'sum' });
      await comm.close();
      return Array.from(y as Float32Array);
    });
    const base = new URL(wj.urls[0]).origin;
    // The package: only .py files, straight from python/opennetworks.
    const zip = Buffer.from(await (await fetch(`${base}/py/opennetworks.zip`)).arrayBuffer());
    const names = zipNames(zip);
    expect(names).toContain('opennetworks/web.py');
    expect(names).toContain('opennetworks/_gen/web.py');
    expect(names.filter((n) => !n.endsWith('.py'))).toEqual([]);

    profile = mkdtempSync(join(tmpdir(), 'onet-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e: Error) => errors.push(e.message));
    page.on('console', (m: any) => wj!.logs.push(`[page] ${m.text()}`));
    await page.goto(wj.urls[0].replace('/join#', '/pyodide.html#'));
    await page.waitForFunction(() => (window as any).onet?.ready, null, { timeout: 10_000 });
    await page.evaluate(() => (window as any).onet.ready.then(() => undefined));
    // Loaded but not joined: the coordinator has no web rank yet.
    expect(await page.textContent('#state')).toContain('press Run');
    expect(wj.logs.join('\n')).not.toMatch(/web rank 1 .* joined/);

    const code = readFileSync(join(EX, 'allreduce.py'), 'utf8');
    const status = await page.evaluate((c: string) => (window as any).onet.run(c), code);
    const output: string[] = await page.evaluate(() => (window as any).onet.output);
    const logs = `${wj.logs.join('\n')}\n--- page\n${output.join('\n')}\n${errors.join('\n')}`;
    expect(status, logs).toBe(0);
    expect(output, logs).toContain('rank 1 of 3 (pyodide): [6.0, 6.0, 6.0, 6.0]');
    expect(await node, logs).toEqual([6, 6, 6, 6]);
    expect((await wj.job.wait()).code, logs).toBe(0);
    expect(logs).toContain('rank 0 of 3 (python): [6.0, 6.0, 6.0, 6.0]');
  }, 90_000);
});
