// The 16-bit reduce kernels (native/reduce/kernels_vec16.inc) against an independent scalar reference:
// runs native/tests/reduce16_test.cc (every ISA table this CPU has, every op, k = 1..8, odd lengths and
// offsets, guard elements) and asserts it exits 0 having failed no check, with and without AVX-512 BF16.
// ONET_REDUCE16_TEST_BIN overrides where the executable is looked for.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { nativeTestBinary } from './helpers';

const { bin, looked } = nativeTestBinary('reduce16_test', process.env.ONET_REDUCE16_TEST_BIN);
if (bin === undefined) console.warn(`reduce16.test: SKIPPED, no reduce16_test executable in ${looked.join(', ')}`);

// The second run takes the AVX-512 table's integer bf16 rounding (CPUs without AVX-512 BF16) where the
// CPU has AVX-512 BF16; elsewhere it repeats the first.
describe.skipIf(bin === undefined)('16-bit reduce kernels', () => {
  test.each([
    ['0', 'AVX-512 BF16 where the CPU has it'],
    ['1', 'integer bf16 rounding in the AVX-512 table'],
  ])('f16 and bf16 equal the scalar reference on every table (ONET_TEST_NO_AVX512BF16=%s: %s)', (noBf16) => {
    const env = { ...process.env, ONET_TEST_NO_AVX512BF16: noBf16 };
    const r = spawnSync(bin as string, [], { encoding: 'utf8', timeout: 120_000, env });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(r.error, `could not run ${bin}: ${r.error?.message}`).toBeUndefined();
    expect(out).toMatch(/^[1-9]\d* checks, 0 failed$/m);
    expect(r.status, out.slice(-4000)).toBe(0);
  });
});
