// The dashboard in a real browser (Debian's chromium driven by playwright-core): while a
// 3-rank job runs allreduces, the page must show live numbers that change, every rank, the
// straggler we made (rank 2 sleeps before each allreduce) and moving charts. Saves the
// screenshot docs/img/dashboard.png. Skipped, saying so, where /usr/bin/chromium is missing.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../src/coordinator/server';
import { ONET, ROOT, runProc } from './helpers';
import { startRanks } from './telemetry_util';

const CHROMIUM = process.env.ONET_CHROMIUM ?? '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'onet-dash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const num = (s: string | null) => Number((s ?? '').replace(/[^0-9.]/g, ''));

describe.skipIf(!existsSync(CHROMIUM))(`dashboard in ${CHROMIUM}`, () => {
  it('shows live, changing numbers, the ranks and the straggler while a job runs', async () => {
    const W = 3;
    const job = `dash-${process.pid}`;
    const release = join(dir, 'release');
    const env = {
      ...process.env,
      ONET_JOB_ID: job,
      ONET_METRICS_PORT: '0',
      ONET_TW_MODE: 'loop',
      ONET_TW_RELEASE: release,
      ONET_TW_SLOW: '2',
      ONET_TW_SLOW_MS: '5',
      ONET_STRAGGLER_WINDOW: '50',
      ONET_FASTLANE_MAX_BYTES: '0', // the dashboard shows the engine's counters: lane calls never reach it
    };
    const coord = await Coordinator.start({ job, world: W, env, log: () => {} });
    let browser: Browser | undefined;
    const ranks = startRanks(W, env);
    try {
      const d = await runProc(process.execPath, [ONET, 'dashboard', '--job', job], env, 30_000);
      const url = /onet dashboard: (\S+)/.exec(d.stdout)?.[1];
      expect(url, d.stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const failed: string[] = [];
      page.on('requestfailed', (r) => failed.push(r.url()));
      page.on('pageerror', (e) => failed.push(e.message));
      await page.goto(url!);
      await page.locator('#conn.live').waitFor({ timeout: 30_000 });
      // Live numbers that change while the job runs.
      await page.waitForFunction(
        () => Number(document.getElementById('calls-total')!.textContent!.replace(/\D/g, '')) > 0,
        null,
        { timeout: 30_000 },
      );
      const first = num(await page.textContent('#calls-total'));
      await page.waitForFunction(
        (n) => Number(document.getElementById('calls-total')!.textContent!.replace(/\D/g, '')) > n,
        first,
        { timeout: 30_000 },
      );
      expect(num(await page.textContent('#calls-total'))).toBeGreaterThan(first);
      await page.waitForFunction(() => /µs|ms/.test(document.getElementById('latency')!.textContent!), null, {
        timeout: 30_000,
      });
      // Every rank in the table and the topology; the op table has allreduce with a bandwidth.
      await page.waitForFunction((w) => document.querySelectorAll('#ranks tbody tr').length === w, W, {
        timeout: 30_000,
      });
      expect(await page.locator('#topology circle').count()).toBe(W);
      await page.locator('#ops tr[data-op="allreduce"]').waitFor({ timeout: 30_000 });
      // The straggler: flagged in the rank table and as an alert naming rank 2.
      await page.locator('#alerts [data-straggler="2"]').waitFor({ timeout: 30_000 });
      expect(await page.textContent('#alerts')).toMatch(/Straggler: rank 2 arrived last/);
      // Both charts have drawn (uPlot canvases) with several points; let them grow for the picture.
      expect(await page.locator('#chart-bw canvas').count()).toBe(1);
      expect(await page.locator('#chart-lat canvas').count()).toBe(1);
      await page.waitForTimeout(4000);
      mkdirSync(join(ROOT, 'docs', 'img'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'docs', 'img', 'dashboard.png'), fullPage: true });
      expect(failed).toEqual([]); // uPlot and everything else came from the coordinator, not a CDN
    } finally {
      writeFileSync(release, '');
      await browser?.close();
      const ran = await ranks;
      await coord.close();
      for (const r of ran) expect(r.code, r.stderr).toBe(0);
    }
  });
});
