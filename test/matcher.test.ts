// The engine's matching rules (native/engine/match.h) on fake ranks: runs native/tests/matcher_test.cc
// (world sizes 1, 2, 3, 5, 8; every collective; every kind of disagreement and of bad post; send/recv
// pairs) and asserts it exits 0 having failed no check. No engine, no shared memory, no threads.
//
// It looks for the executable where `npm run build:native` (cmake-js, ONET_BUILD_TESTS=ON) or a
// private build puts it (ONET_MATCHER_TEST_BIN overrides). When only the configured cmake-js tree
// exists it builds the target under the shared build lock first.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [
  process.env.ONET_MATCHER_TEST_BIN ?? '',
  path.join(root, 'build/Release/matcher_test'),
  path.join(root, 'build/matcher_test'),
].filter((p) => p !== '');

function findBinary(): string | undefined {
  let bin = candidates.find((p) => fs.existsSync(p));
  if (bin === undefined && fs.existsSync(path.join(root, 'build/CMakeCache.txt'))) {
    spawnSync('flock', ['/tmp/onet-build.lock', 'cmake', '--build', 'build', '--target', 'matcher_test'], {
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
  console.warn(`matcher.test: SKIPPED, no matcher_test executable in ${candidates.join(', ')} (npm run build:native)`);
}

describe.skipIf(bin === undefined)('engine matching rules', () => {
  test('agreement, validation and send/recv pairing on fake ranks', () => {
    const r = spawnSync(bin as string, [], { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(r.error, `could not run ${bin}: ${r.error?.message}`).toBeUndefined();
    expect(out).toMatch(/matcher_test: [1-9]\d* checks, 0 failed/);
    expect(r.status, out.slice(-4000)).toBe(0);
  });
});
