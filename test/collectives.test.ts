// Every collective, cross-process, through `onet run`: world sizes 1, 2, 3, 5, 8 × element
// counts 0, 1, 4097, 1<<20 × every dtype × every reduce op (test/fixtures/collectives_worker.mjs).
import { describe, expect, it } from 'vitest';
import { onetRun, results } from './helpers';

describe.each([1, 2, 3, 5, 8])('collectives across %i rank process(es)', (world) => {
  it('every result is bit-exact against the reference', async () => {
    const r = await onetRun(world, 'test/fixtures/collectives_worker.mjs', {}, 300_000);
    const res = results(r.stdout);
    expect(res.map((x) => x.rank).sort(), r.stderr.slice(-2000)).toEqual([...Array(world).keys()]);
    for (const x of res) {
      expect(x.failures, `rank ${x.rank} of ${world}`).toEqual([]);
      expect(x.cases).toBeGreaterThan(550);
    }
    expect(r.code).toBe(0);
  });
});
