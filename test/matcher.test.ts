// The engine's matching rules (native/engine/match.h) on fake ranks: runs native/tests/matcher_test.cc
// (world sizes 1, 2, 3, 5, 8; every collective; every kind of disagreement and of bad post; send/recv
// pairs) and asserts it exits 0 having failed no check. No engine, no shared memory, no threads.
//
// It looks for the executable where `npm run build:native` (cmake-js, ONET_BUILD_TESTS=ON) or a
// private build puts it (ONET_MATCHER_TEST_BIN overrides). When only the configured cmake-js tree
// exists it builds the target under the shared build lock first.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { nativeTestBinary } from './helpers';

const { bin, looked: candidates } = nativeTestBinary('matcher_test', process.env.ONET_MATCHER_TEST_BIN);
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
