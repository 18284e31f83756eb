// A real browser: Debian's Chromium, headless through playwright-core, opens the join URLs of a
// job with one Node rank process (launch()) and runs every collective from the page, exact
// against a reference, for f32, f64, i32 and bf16 at 0, 1, 4097 and 1<<20 elements. The page
// loads everything from the coordinator (client, join page); nothing else is reachable.
// Skipped when /usr/bin/chromium is absent (apt-get install chromium).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLES, type WebJob, webJob } from './web_helpers';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const absent = !existsSync(CHROMIUM);
const why = ` (SKIPPED: ${CHROMIUM} is absent; apt-get install chromium)`;
const title = `headless Chromium tabs as ranks${absent ? why : ''}`;

describe.skipIf(absent)(title, () => {
  let wj: WebJob | undefined;
  let profile = '';
  let ctx: any;
  afterAll(async () => {
    await ctx?.close();
    await wj?.done();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('two tabs and a Node rank run every collective exactly', async () => {
    const { chromium } = await import('playwright-core');
    // Every dtype at 0, 1 and 4097 elements, and f32 at 1<<20: on two busy cores Chromium moves
    // 1<<20-element frames slowly, and the Node-client test (web_collectives) covers every dtype
    // there. WEB_TEST_FULL=1 runs the whole matrix in the browser too.
    const plan = process.env.WEB_TEST_FULL ? [{}] : [{ counts: [0, 1, 4097] }, { dtypes: ['f32'], counts: [1 << 20] }];
    const n = plan.reduce((s, p: any) => s + 7 * (p.dtypes?.length ?? 4) * (p.counts?.length ?? 4), 0);
    wj = await webJob(1, 2, [process.execPath, join(EXAMPLES, 'node_rank.mjs')], { CHECK_PLAN: JSON.stringify(plan) });
    profile = mkdtempSync(join(tmpdir(), 'onet-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    // The check code, as a page script (the coordinator serves only the client and the join page).
    const checks = readFileSync(join(EXAMPLES, 'collectives.mjs'), 'utf8').replace(/^export /gm, '');
    const results = await Promise.all(
      wj.urls.map(async (url) => {
        const page = await ctx.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e: Error) => errors.push(e.message));
        page.on('console', (m: any) => wj!.logs.push(`[page] ${m.text()}`));
        await page.goto(url);
        await page.addScriptTag({ type: 'module', content: `${checks}\nwindow.runAll = runAll;` });
        await page.waitForFunction(() => (window as any).runAll && (window as any).onet);
        return page
          .evaluate(async (plan: object[]) => {
            const w = window as any;
            const comm = await w.onet.ready;
            const t0 = Date.now();
            const log = (s: string) => console.log(`${Date.now() - t0} ms ${s}`);
            let n = 0;
            for (const pass of plan) n += await w.runAll(comm, { ...pass, log });
            await comm.close();
            return {
              rank: comm.rank,
              world: comm.world,
              kind: comm.kind,
              n,
              state: document.getElementById('state')?.textContent,
            };
          }, plan)
          .catch((e: Error) => ({ error: e.message, errors }));
      }),
    );
    expect(results, wj.logs.join('\n')).toEqual([
      { rank: 1, world: 3, kind: 'browser', n, state: expect.stringContaining('joined') },
      { rank: 2, world: 3, kind: 'browser', n, state: expect.stringContaining('joined') },
    ]);
    const res = await wj.job.wait();
    expect(res.code, wj.logs.join('\n')).toBe(0);
    expect(wj.logs.join('\n')).toContain(`rank 0: ${n} checks passed`);
  });
});
