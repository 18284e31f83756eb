// Who a single-copy post may name (native/engine/cma.h check_pid): runs native/tests/cma_test.cc and
// asserts it exits 0 having failed no check. The forged pid end to end: python/tests/test_cma_forge.py.
// ONET_CMA_TEST_BIN overrides where the executable is looked for.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { nativeTestBinary } from './helpers';

const { bin, looked } = nativeTestBinary('cma_test', process.env.ONET_CMA_TEST_BIN);
if (bin === undefined) console.warn(`cma.test: SKIPPED, no cma_test executable in ${looked.join(', ')}`);

describe.skipIf(bin === undefined)('single-copy pid check', () => {
  test('only the registered, still running process may be named', () => {
    const r = spawnSync(bin as string, [], { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(r.error, `could not run ${bin}: ${r.error?.message}`).toBeUndefined();
    expect(out).toMatch(/cma_test: [1-9]\d* checks, 0 failed/);
    expect(r.status, out.slice(-4000)).toBe(0);
  });
});
