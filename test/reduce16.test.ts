// The 16-bit reduce kernels (native/reduce/kernels_vec16.inc) against an independent scalar reference:
// runs native/tests/reduce16_test.cc (every ISA table this CPU has, every op, k = 1..8, odd lengths and
// offsets, guard elements) and asserts it exits 0 having failed no check.
// ONET_REDUCE16_TEST_BIN overrides where the executable is looked for.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { nativeTestBinary } from './helpers';

const { bin, looked } = nativeTestBinary('reduce16_test', process.env.ONET_REDUCE16_TEST_BIN);
if (bin === undefined) console.warn(`reduce16.test: SKIPPED, no reduce16_test executable in ${looked.join(', ')}`);

describe.skipIf(bin === undefined)('16-bit reduce kernels', () => {
  test('f16 and bf16 equal the scalar reference on every table', () => {
    const r = spawnSync(bin as string, [], { encoding: 'utf8', timeout: 120_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(r.error, `could not run ${bin}: ${r.error?.message}`).toBeUndefined();
    expect(out).toMatch(/^[1-9]\d* checks, 0 failed$/m);
    expect(r.status, out.slice(-4000)).toBe(0);
  });
});
