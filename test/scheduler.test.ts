import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allCosts,
  CATALOGUE,
  COLLECTIVES,
  type Collective,
  type CostParams,
  cost,
  paramsFromTopology,
} from '../src/scheduler/costmodel';
import { explain } from '../src/scheduler/explain';
import { parseOverrides } from '../src/scheduler/override';
import { algoRanges, choose, lookup, selectionTable } from '../src/scheduler/select';
import { busFactor, parseShape, simulate, sweepSizes } from '../src/scheduler/simulate';
import { loadTopology, uniformTopology } from '../src/topology/graph';

const FIX = path.join(__dirname, 'fixtures', 'topo');
const fixture = (name: string) => loadTopology(path.join(FIX, `${name}.json`));
const params = (name: string) => paramsFromTopology(fixture(name));
const close = (x: number, y: number) => expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(y)));

describe('cost model = the textbook formulas', () => {
  const p: CostParams = { P: 8, m: 1, alphaUs: 10, betaUs: 1e-3, gammaUs: 2e-4, sigmaUs: 1e-4, shmAlphaUs: 2 };
  const n = 1 << 20;
  const inter = (c: Collective, a: string, q = p) => {
    const x = cost(c, a, n, q);
    return x.totalUs - x.localUs;
  };
  it('Thakur et al. for P = 8 (a power of two)', () => {
    close(inter('allgather', 'ring'), 7 * 10 + (7 / 8) * n * 1e-3);
    close(inter('allgather', 'recdoubling'), 3 * 10 + (7 / 8) * n * 1e-3);
    close(inter('broadcast', 'binomial'), 3 * (10 + n * 1e-3));
    close(inter('reduce', 'binomial'), 3 * (10 + n * 1e-3 + n * 2e-4));
    close(inter('allreduce', 'rabenseifner'), 2 * 3 * 10 + 2 * (7 / 8) * n * 1e-3 + (7 / 8) * n * 2e-4);
    close(inter('reduce_scatter', 'rechalving'), 3 * 10 + (7 / 8) * n * (1e-3 + 2e-4));
    close(inter('barrier', 'dissemination'), 3 * 10);
    close(inter('alltoall', 'pairwise'), 7 * 10 + (7 / 8) * n * 1e-3);
    // Pipelined ring: γ ≤ β hides the reduction except for the last block's chunk.
    close(inter('allreduce', 'ring'), 14 * 10 + 2 * (7 / 8) * n * 1e-3 + (n / 8) * 2e-4);
  });
  it('non-powers of two pay the fold-in/fold-out steps (P = 5)', () => {
    const q = { ...p, P: 5 };
    close(
      inter('allreduce', 'rabenseifner', q),
      10 + n * 1e-3 + n * 2e-4 + 2 * 2 * 10 + 2 * (3 / 4) * n * 1e-3 + (3 / 4) * n * 2e-4 + (10 + n * 1e-3),
    );
    expect(cost('allreduce', 'rabenseifner', n, q).steps).toBe(6);
    expect(cost('allgather', 'bruck', n, q).steps).toBe(3);
    expect(cost('allreduce', 'dbtree', 0, q).steps).toBe(4); // NCCL: 2·log2i(P)
  });
  it('the double binary tree moves 2n per rank and pipelines in power-of-two chunks', () => {
    const big = cost('allreduce', 'dbtree', 1 << 30, p);
    expect(big.bandwidthUs / ((1 << 30) * 2e-3)).toBeGreaterThan(1);
    expect(big.bandwidthUs / ((1 << 30) * 2e-3)).toBeLessThan(1.02);
    let prev = 0;
    for (const b of [1, 4097, 1 << 16, 1 << 20, 1 << 24, 1 << 28, 2 ** 32]) {
      const c = cost('allreduce', 'dbtree', b, p).chunkBytes;
      expect(Math.log2(c) % 1).toBe(0);
      expect(c).toBeGreaterThanOrEqual(Math.max(prev, 4096));
      expect(c).toBeLessThanOrEqual(4 << 20);
      prev = c;
    }
  });
  it('rejects unknown collectives and algorithms, listing the valid ones', () => {
    expect(() => cost('allreduce', 'nope', 8, p)).toThrow(
      /unknown allreduce algorithm "nope"; valid: ring, dbtree, rabenseifner/,
    );
    expect(() => cost('scan' as Collective, 'ring', 8, p)).toThrow(/valid: allreduce, allgather/);
  });
});

/** Per-byte (bandwidth + reduce) cost: what a bandwidth-optimal pick minimises. */
const perByte = (c: ReturnType<typeof cost>) => c.bandwidthUs + c.reduceUs;

function checkSensible(p: CostParams) {
  const table = selectionTable(p);
  for (const coll of COLLECTIVES) {
    const entries = table.filter((e) => e.coll === coll);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries[entries.length - 1].maxBytes).toBeNull();
    for (let i = 1; i < entries.length - 1; i++) expect(entries[i].maxBytes!).toBeGreaterThan(entries[i - 1].maxBytes!);
    // Exact boundaries: the table agrees with a direct choice on both sides of every edge.
    for (const e of entries)
      if (e.maxBytes !== null) {
        expect(lookup(table, coll, e.maxBytes)!.algo).toBe(choose(coll, e.maxBytes, p).algo);
        expect(lookup(table, coll, e.maxBytes + 1)!.algo).toBe(choose(coll, e.maxBytes + 1, p).algo);
      }
    // Monotone: once the choice moves on from an algorithm it never comes back.
    const seq = algoRanges(table, coll).map((r) => r.algo);
    expect(new Set(seq).size, `${coll}: ${seq.join(' → ')}`).toBe(seq.length);
    if (p.P < 2) continue;
    // Small: the pick has the fewest α terms. Large: the pick has (near) the least per-byte cost.
    const small = allCosts(coll, 8, p),
      pick = choose(coll, 8, p).cost;
    expect(pick.latencyUs).toBeLessThanOrEqual(Math.min(...small.map((c) => c.latencyUs)) * (1 + 1e-9));
    const huge = allCosts(coll, 2 ** 32, p),
      hp = choose(coll, 2 ** 32, p).cost;
    expect(perByte(hp)).toBeLessThanOrEqual(Math.min(...huge.map(perByte)) * 1.01);
  }
  return table;
}

describe('selection on recorded topologies', () => {
  it('4 hosts, 10 GbE, 0.2 ms: Rabenseifner for small allreduces, ring for large', () => {
    const p = params('4x10g');
    checkSensible(p);
    expect(choose('allreduce', 8, p).algo).toBe('rabenseifner');
    expect(choose('allreduce', 64 << 20, p).algo).toBe('ring');
    expect(choose('broadcast', 8, p).algo).toBe('binomial');
    expect(choose('broadcast', 1 << 30, p).algo).toBe('chain');
    expect(choose('reduce_scatter', 8, p).algo).toBe('rechalving');
    expect(choose('reduce_scatter', 1 << 30, p).algo).toBe('ring');
  });
  it('2 hosts, 100 GbE: every allreduce is one exchange, ring', () => {
    const p = params('2x100g');
    checkSensible(p);
    expect(algoRanges(selectionTable(p, { colls: ['allreduce'] }), 'allreduce').map((r) => r.algo)).toEqual(['ring']);
  });
  it('5 hosts with one slow link: the slow link sets β; tree → Rabenseifner → ring, Bruck → ring', () => {
    const p = params('5-mixed');
    expect(p.betaUs).toBeCloseTo(1 / (0.125 * 1e3), 12);
    checkSensible(p);
    expect(algoRanges(selectionTable(p, { colls: ['allreduce'] }), 'allreduce').map((r) => r.algo)).toEqual([
      'dbtree',
      'rabenseifner',
      'ring',
    ]);
    expect(choose('allgather', 8, p).algo).toBe('bruck');
    expect(choose('allgather', 1 << 30, p).algo).toBe('ring');
  });
  it('1024 × 8 simulated: log-step algorithms until the tree pipeline pays, never a 2046-step ring', () => {
    const p = params('1024x8');
    checkSensible(p);
    expect(choose('allreduce', 8, p).algo).toBe('rabenseifner');
    expect(choose('allreduce', 1 << 30, p).algo).toBe('dbtree');
    for (const r of simulate('allreduce', p, sweepSizes())) expect(r.algo).not.toBe('ring');
  });
  it.each([1, 2, 3, 5, 8])('uniform %i hosts: sensible at every count', (P) => {
    const p = paramsFromTopology(uniformTopology(P, 3));
    checkSensible(p);
    for (const n of [0, 1, 4097, 1 << 20])
      for (const coll of COLLECTIVES) {
        const c = choose(coll, n, p);
        expect(Number.isFinite(c.cost.totalUs) && c.cost.totalUs >= 0).toBe(true);
        if (P === 1) expect(c.cost.steps).toBe(0);
      }
  });
});

describe('ONET_ALGO', () => {
  it('parses and forces, and the table follows', () => {
    const o = parseOverrides('allreduce:ring, allgather:bruck');
    expect([...o]).toEqual([
      ['allreduce', 'ring'],
      ['allgather', 'bruck'],
    ]);
    const p = params('4x10g');
    const t = selectionTable(p, { overrides: o });
    expect(new Set(t.filter((e) => e.coll === 'allreduce').map((e) => e.algo))).toEqual(new Set(['ring']));
    expect(new Set(t.filter((e) => e.coll === 'allgather').map((e) => e.algo))).toEqual(new Set(['bruck']));
    expect(choose('allreduce', 8, p, o)).toMatchObject({ algo: 'ring', forced: true });
    expect(explain('allreduce', 8, fixture('4x10g'), p, o)).toMatch(
      new RegExp(
        /chosen: ring, chunk .*: forced by ONET_ALGO /.source +
          /\(the model prefers rabenseifner; ring is predicted 1\.\d\d× its time\)/.source,
      ),
    );
  });
  it('rejects unknown names listing the valid ones', () => {
    expect(() => parseOverrides('allreduce:tree')).toThrow(
      /unknown allreduce algorithm "tree"\. Valid allreduce algorithms: ring, dbtree, rabenseifner/,
    );
    expect(() => parseOverrides('allreduse:ring')).toThrow(
      new RegExp(
        /unknown collective "allreduse".*Valid collectives: /.source +
          /allreduce, allgather, broadcast, reduce_scatter, reduce, alltoall, barrier/.source,
      ),
    );
    expect(() => parseOverrides('ring')).toThrow(
      /"ring" is not collective:algorithm\. Valid: allreduce:ring\|dbtree\|rabenseifner/,
    );
    expect(() => parseOverrides('allreduce:ring,allreduce:dbtree')).toThrow(/forced twice/);
    expect(parseOverrides('').size).toBe(0);
  });
});

describe('explain and simulate', () => {
  it('explains the choice with every alternative and its predicted time', () => {
    const t = fixture('4x10g'),
      p = paramsFromTopology(t);
    const text = explain('allreduce', 64 << 20, t, p);
    expect(text).toMatch(/^allreduce of 64 MiB .* on 4 hosts × 2 ranks\/host = 8 ranks/);
    expect(text).toMatch(/chosen: ring, chunk 1 MiB: cheapest predicted time; next best rabenseifner/);
    for (const a of CATALOGUE.allreduce) expect(text).toMatch(new RegExp(`^${a}( \\*)? +\\d`, 'm'));
    expect(text).toMatch(/allreduce selection by size: 0 B….* rabenseifner, .*…∞ ring/);
  });
  it('parses HxM shapes and predicts a sweep in nccl-tests terms', () => {
    expect(parseShape('1024x8')).toEqual({ hosts: 1024, ppn: 8 });
    expect(() => parseShape('1024')).toThrow(/is not HOSTSxRANKS_PER_HOST \(example: 1024x8\)/);
    expect(busFactor('allreduce', 8)).toBe(1.75);
    const rows = simulate('allreduce', params('1024x8'), sweepSizes(8, 1 << 20));
    expect(rows.map((r) => r.bytes)).toEqual([8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288]);
    for (let i = 1; i < rows.length; i++) expect(rows[i].busBwGBs).toBeGreaterThan(rows[i - 1].busBwGBs);
  });
});

describe('plan for a coordinator', () => {
  it('builds the table with ONET_ALGO applied and explains it when ONET_EXPLAIN=1', async () => {
    const { planFromEnv } = await import('../src/scheduler/plan');
    const t = fixture('4x10g');
    expect(planFromEnv(t, {}).explanation).toBeNull();
    const p = planFromEnv(t, { ONET_EXPLAIN: '1', ONET_ALGO: 'broadcast:chain' });
    expect(new Set(p.table.filter((e) => e.coll === 'broadcast').map((e) => e.algo))).toEqual(new Set(['chain']));
    expect(p.explanation).toMatch(/ONET_ALGO forces broadcast:chain/);
    expect(p.explanation).toMatch(
      new RegExp(
        /^ {2}allreduce: 0 B….* rabenseifner \(at \d+ B.*: rabenseifner [\d.]+ [µm]s, .*\); /.source +
          /.*…∞ ring \(at 1 GiB: ring [\d.]+ s, /.source,
        'm',
      ),
    );
    expect(() => planFromEnv(t, { ONET_ALGO: 'barrier:ring' })).toThrow(/Valid barrier algorithms: dissemination/);
  });
});
