import { describe, expect, test } from 'vitest';
import { nativeTestBinary, runProc } from './helpers';

const { bin, looked: candidates } = nativeTestBinary('algo_test', process.env.ONET_ALGO_TEST_BIN);
if (bin === undefined) {
  console.warn(`algo.test: SKIPPED, no algo_test executable in ${candidates.join(', ')} (npm run build:native)`);
}

describe.skipIf(bin === undefined)('native algorithm catalogue', () => {
  // Async: a synchronous spawn of this long run would block the worker's RPC to vitest.
  test('every algorithm matches the serial reference on mem and tcp transports', async () => {
    const r = await runProc(bin as string, ['--no-bench'], {}, 300_000);
    const out = `${r.stdout}${r.stderr}`;
    console.log(out.split('\n').slice(-12).join('\n'));
    expect(out).toMatch(/algo_test: \d+ checks, 0 failed/);
    expect(r.code, out.slice(-4000)).toBe(0);
  }, 320_000);
});
