// A mixed job: one Node rank process (launch()) and two web ranks played by Node `ws` clients
// through the built browser client. Every collective of the web API, exact against a reference,
// for f32, f64, i32 and bf16 at 0, 1, 4097 and 1<<20 elements (examples/browser/collectives.mjs).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLES, joinNode, type WebJob, webJob } from './web_helpers';

describe('web ranks next to a Node rank', () => {
  let wj: WebJob | undefined;
  afterAll(async () => wj?.done());

  it('runs every collective exactly for f32, f64, i32, bf16 at 0, 1, 4097, 1<<20', async () => {
    wj = await webJob(1, 2, [process.execPath, join(EXAMPLES, 'node_rank.mjs')]);
    expect(wj.urls).toHaveLength(2);
    const { runAll } = await import(pathToFileURL(join(EXAMPLES, 'collectives.mjs')).href);
    const comms = await Promise.all(wj.urls.map((u) => joinNode(u)));
    expect(comms.map((c) => [c.rank, c.world, c.kind])).toEqual([
      [1, 3, 'browser'],
      [2, 3, 'browser'],
    ]);
    const checks = await Promise.all(comms.map((c) => runAll(c)));
    expect(checks).toEqual([112, 112]);
    const res = await wj.job.wait();
    expect(res.code, wj.logs.join('\n')).toBe(0);
    expect(wj.logs.join('\n')).toContain('rank 0: 112 checks passed');
    await Promise.all(comms.map((c) => c.close()));
  });
});
