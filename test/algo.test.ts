// Inter-host algorithm catalogue (native/algo): runs the native sweep native/tests/algo_test.cc
// (every algorithm × world sizes 1..9 over the in-process transport, a subset over TCP on
// 127.0.0.1, deadlines, bad calls) and asserts it exits 0. The binary checks every result
// bit for bit against reduce::reduce over all ranks' inputs; its summary is echoed here.
//
// It looks for the executable where `npm run build:native` (cmake-js, ONET_BUILD_TESTS=ON)
// or a private build puts it (ONET_ALGO_TEST_BIN overrides). When only the configured
// cmake-js tree exists it builds the target under the shared build lock first.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { runProc } from './helpers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [
  process.env.ONET_ALGO_TEST_BIN ?? '',
  path.join(root, 'build/Release/algo_test'),
  path.join(root, 'build/algo_test'),
].filter((p) => p !== '');

function findBinary(): string | undefined {
  let bin = candidates.find((p) => fs.existsSync(p));
  if (bin === undefined && fs.existsSync(path.join(root, 'build/CMakeCache.txt'))) {
    spawnSync('flock', ['/tmp/onet-build.lock', 'cmake', '--build', 'build', '--target', 'algo_test'], {
      cwd: root,
      stdio: 'inherit',
      timeout: 600_000,
    });
    bin = candidates.find((p) => fs.existsSync(p));
  }
  return bin;
}

const bin = findBinary();
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
