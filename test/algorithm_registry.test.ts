// The one algorithm registry (spec/algorithms.json → src/gen/algorithms.ts, native/common/gen/algorithms.h):
// the cost model prices every entry through the formula the registry names, the selection table chooses only
// inter-host algorithms, and the engine's one-shot path is priced where — and only where — the engine takes it.
// (native/tests/algo_test.cc checks the same registry from C++: names(), find(), run() by id.)
import { describe, expect, test } from 'vitest';
import { ALGORITHMS, CATALOGUE, DEFAULT_RULES, ONESHOT_MAX_SENT_BYTES } from '../src/gen/algorithms';
import {
  COLLECTIVES,
  type Collective,
  type CostParams,
  cost,
  formulaOf,
  oneshotApplies,
} from '../src/scheduler/costmodel';
import { choose, selectionTable } from '../src/scheduler/select';

const params = (P: number): CostParams => ({
  P,
  m: 3,
  alphaUs: 25,
  betaUs: 1 / 1.25e3,
  gammaUs: 1 / 10e3,
  sigmaUs: 1 / 10e3,
  shmAlphaUs: 2,
});

describe('algorithm registry', () => {
  test.each([1, 2, 3, 5, 8])('every registry entry has a cost at P=%i', (P) => {
    for (const a of ALGORITHMS) {
      const coll = a.collective as Collective;
      expect(formulaOf(coll, a.name)).toBe(a.formula);
      for (const n of [0, 1, 4097, 1 << 20]) {
        const c = cost(coll, a.name, n, params(P));
        expect(Number.isFinite(c.totalUs) && c.totalUs >= 0, `${coll}:${a.name} at ${n} B`).toBe(true);
      }
    }
  });

  test("the catalogue is the registry's inter-host entries, in order", () => {
    for (const coll of COLLECTIVES) {
      const names = ALGORITHMS.filter((a) => a.collective === coll && a.kind === 'inter').map((a) => a.name);
      expect([...CATALOGUE[coll]]).toEqual(names);
    }
    for (const r of DEFAULT_RULES) expect(CATALOGUE[r.coll as Collective] as readonly string[]).toContain(r.algo);
  });

  test.each([2, 3, 5, 8])('one-shot is priced exactly where the engine takes it (P=%i)', (P) => {
    const edge = Math.floor(ONESHOT_MAX_SENT_BYTES / (P - 1));
    expect(oneshotApplies('allreduce', edge, P)).toBe(true);
    expect(oneshotApplies('allreduce', edge + 1, P)).toBe(false);
    expect(oneshotApplies('allgather', 8, P)).toBe(false);
    expect(choose('allreduce', edge, params(P)).oneshot?.algo).toBe('oneshot');
    expect(choose('allreduce', edge + 1, params(P)).oneshot).toBeNull();
    // The table the engine receives names inter-host algorithms only.
    for (const e of selectionTable(params(P), { colls: ['allreduce'] })) expect(e.algo).not.toBe('oneshot');
  });

  test('one host never takes the one-shot path', () => {
    expect(oneshotApplies('allreduce', 8, 1)).toBe(false);
    expect(choose('allreduce', 8, params(1)).oneshot).toBeNull();
  });
});
