// The min/max reduce kernels (native/reduce/kernels_minmax.inc for f32/f64, GCC's vectors for integers)
// against the scalar code and an independent reference: runs native/tests/reduce_minmax_test.cc (every ISA
// table this CPU has; NaN, ±0, ±inf, subnormals; odd lengths, offsets, in place, guard elements) and asserts
// it exits 0 having failed no check. ONET_REDUCE_MINMAX_TEST_BIN overrides where the executable is looked for.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { nativeTestBinary } from './helpers';

const { bin, looked } = nativeTestBinary('reduce_minmax_test', process.env.ONET_REDUCE_MINMAX_TEST_BIN);
if (bin === undefined)
  console.warn(`reduce_minmax.test: SKIPPED, no reduce_minmax_test executable in ${looked.join(', ')}`);

describe.skipIf(bin === undefined)('min/max reduce kernels', () => {
  test('f32, f64 and integer min/max equal the scalar code on every table', () => {
    const r = spawnSync(bin as string, [], { encoding: 'utf8', timeout: 120_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(r.error, `could not run ${bin}: ${r.error?.message}`).toBeUndefined();
    expect(out).toMatch(/^[1-9]\d* checks, 0 failed$/m);
    expect(r.status, out.slice(-4000)).toBe(0);
  });
});
