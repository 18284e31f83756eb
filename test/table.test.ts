// comm.allgatherTable over real ranks (launch()): the gathered table equals the concatenation
// built locally; empty tables, nulls, strings, lists, dictionaries, multi-round transfers;
// schema mismatches and non-tables are an error on every rank, and the comm works afterwards.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launch } from '../src/api/launch';
import { ROOT, results } from './helpers';

const WORKER = join(ROOT, 'test/fixtures/table_worker.mjs');

async function runWorld(world: number): Promise<any[]> {
  const job = await launch({
    nprocs: world,
    cmd: [process.execPath, WORKER],
    timeoutMs: 90_000,
    coordinatorLog: () => {},
  });
  const lines: string[] = [];
  job.on('log', (e) => lines.push(`[${e.rank} ${e.stream}] ${e.line}`));
  const exit = await job.wait();
  expect(exit.code, lines.join('\n')).toBe(0);
  return results(lines.join('\n'));
}

describe.each([1, 2, 3, 5])('allgatherTable, world %i', (world) => {
  it('gathers in rank order and fails mismatches on every rank', async () => {
    const res = await runWorld(world);
    const byCase = (c: string) => res.filter((r) => r.case === c).sort((a, b) => a.rank - b.rank);
    // Rank r has r+2 rows, rank 1 none (see the worker).
    const rows = Array.from({ length: world }, (_, r) => (r === 1 ? 0 : r + 2)).reduce((a, b) => a + b, 0);
    for (const c of ['basic', 'empty', 'rounds', 'dictionary', ...(world > 1 ? ['after-errors'] : [])]) {
      const got = byCase(c);
      expect(
        got.map((r) => r.rank),
        c,
      ).toEqual([...Array(world).keys()]);
      for (const r of got) expect(r, c).toMatchObject({ equal: true, schema: true });
      for (const r of got) expect(r.rows, c).toBe(r.wantRows);
    }
    for (const r of byCase('basic')) expect(r.rows).toBe(rows);
    for (const r of byCase('empty')) expect(r.rows).toBe(0);
    if (world === 1) return;

    const last = world - 1;
    const oneMessage = (c: string) => {
      const got = byCase(c);
      expect(
        got.map((r) => r.rank),
        c,
      ).toEqual([...Array(world).keys()]); // every rank got an error...
      expect(new Set(got.map((r) => r.error?.message)).size, c).toBe(1); // ...and the same one
      return got[0].error;
    };
    const type = oneMessage('type-mismatch');
    expect(type.code).toBe('EMISMATCH');
    expect(type.ranks).toEqual([last]);
    expect(type.message).toContain(
      `field 2: ${world > 2 ? `ranks ${[...Array(last).keys()].join(', ')}` : 'rank 0'} "score: Float64"; rank ` +
        `${last} "score: Int32"`,
    );

    const nullable = oneMessage('nullable-mismatch');
    expect(nullable.code).toBe('EMISMATCH');
    expect(nullable.ranks).toEqual([last]);
    expect(nullable.message).toContain(`rank ${last} "task: Utf8 not null"`);

    const notTable = byCase('not-a-table');
    expect(notTable.every((r) => r.error?.code === 'EINVAL' && r.error.ranks.join() === '0')).toBe(true);
    expect(notTable[0].error.message).toMatch(
      /rank 0 did not pass a usable table \(rank 0 expected an apache-arrow Table/,
    );
    expect(notTable[1].error.message).toMatch(/rank 0 did not pass a usable table \(see the error there\)/);
  });
});

describe('examples/node/table.mjs', () => {
  it("rank 0 prints every rank's eval results in rank order", async () => {
    const job = await launch({
      nprocs: 3,
      cmd: [process.execPath, join(ROOT, 'examples/node/table.mjs')],
      timeoutMs: 90_000,
      coordinatorLog: () => {},
    });
    const lines: string[] = [];
    job.on('log', (e) => lines.push(`[${e.rank}] ${e.line}`));
    expect((await job.wait()).code, lines.join('\n')).toBe(0);
    const out = lines.filter((l) => l.startsWith('[0] '));
    expect(out[0]).toBe('[0] 5 results from 3 ranks:');
    expect(out.slice(1).map((l) => l.split(/\s+/).slice(2, 5).join(' '))).toEqual([
      '0 arc accuracy',
      '0 piqa accuracy',
      '1 boolq accuracy',
      '1 winogrande accuracy',
      '2 hellaswag accuracy',
    ]);
    expect(out[2]).toContain('accuracy skipped');
  });
});
