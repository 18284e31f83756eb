// CUDA reduce kernels: runs native/tests/cuda_reduce_test (built by `npm run build:native` when
// CMake finds nvcc, ONET_CUDA=auto) and checks its verdict.
//
// The binary always runs its argument checks (the CUDA entry point refuses what the CPU one
// refuses, no device needed). With a GPU it then checks every op × dtype × k × n against the
// CPU kernels bit for bit and prints bandwidth against cudaMemcpy; without one it prints
// "skipped: no CUDA device" and the GPU test below is skipped with that line.
// ONET_CUDA_TEST_BIN points at another build (e.g. /tmp/build-cuda/cuda_reduce_test).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [
  process.env.ONET_CUDA_TEST_BIN,
  path.join(root, 'build/cuda_reduce_test'),
  path.join(root, 'build/Release/cuda_reduce_test'),
].filter((p): p is string => !!p);
const BIN = candidates.find((p) => fs.existsSync(p));
if (!BIN) {
  console.warn(
    'cuda.test: SKIPPED, cuda_reduce_test not built (needs nvcc: `npm run build:native` with the CUDA ' +
      'toolkit on PATH, or `cmake -S . -B /tmp/build-cuda -DONET_CUDA=on && cmake --build /tmp/build-cuda ' +
      '--target cuda_reduce_test` and ONET_CUDA_TEST_BIN=/tmp/build-cuda/cuda_reduce_test)',
  );
}

describe.skipIf(!BIN)('cuda_reduce_test', () => {
  // One run serves both tests: the GPU sweep takes tens of seconds on a GPU machine.
  let ran: { status: number | null; out: string } | undefined;
  const run = () => {
    if (!ran) {
      const r = spawnSync(BIN!, [], { encoding: 'utf8', timeout: 600_000, env: { ...process.env } });
      ran = { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
    }
    return ran;
  };

  test('argument checks pass (no GPU needed)', () => {
    const { status, out } = run();
    expect(out).toMatch(/argument checks|sweep:/);
    expect(out).not.toMatch(/FAIL/);
    expect(status, out).toBe(0);
  }, 620_000);

  test('GPU kernels equal the CPU kernels bit for bit', (ctx) => {
    const { status, out } = run();
    const skipped = out.split('\n').find((l) => l.startsWith('skipped: no CUDA device'));
    if (skipped) {
      console.warn(`cuda.test: GPU sweep ${skipped}`);
      ctx.skip();
      return;
    }
    console.log(out);
    expect(status, out).toBe(0);
    expect(out).toMatch(/^all ok$/m);
  }, 620_000);
});
