// Node ranks on the rank-side fast lane (src/api/comm_lane.ts, bindings/node/lane_binding.cc): real rank
// processes, a real coordinator, the lane's C code compiled into the addon. Every lane collective
// against a reference for world sizes 1, 2, 3 and counts 0, 1, 4097 (in pieces) and 1<<15 (the engine);
// errors stay data: a count mismatch is EMISMATCH naming both ranks, and a peer that dies before a lane
// call fails it with EABORTED naming the dead rank, not a hang. Node and Python ranks sharing the lane:
// test/fastlane_mixed.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rankEnv, runMixedJob } from './mixed_ranks';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('Node ranks on the fast lane', () => {
  it.each([1, 2, 3])(
    'world %i: collectives match the reference, errors are data, a dead peer fails the call',
    async (world) => {
      const runDir = mkdtempSync(join(tmpdir(), 'onet-nodelane-'));
      dirs.push(runDir);
      const langs = Array.from({ length: world }, () => 'node' as const);
      const { ran, res, logs } = await runMixedJob(
        langs,
        'test/fixtures/node_lane_rank',
        (r) => ({
          ...rankEnv(r, world),
          ONET_JOB_ID: `nodelane-${process.pid}-${world}`,
          ONET_RUN_DIR: runDir,
          ONET_TIMEOUT: '60', // a dead peer must be reported long before this
          ONET_ARENA_BYTES: '16MiB',
          ONET_FASTLANE_MAX_BYTES: '8KiB',
          ONET_FASTLANE_CHUNKED_MAX_BYTES: '64KiB',
        }),
        90_000,
      );
      expect(res.length, logs).toBe(world);
      const dead = world - 1;
      expect(
        ran.map((r) => r.code),
        logs,
      ).toEqual(langs.map((_, r) => (world > 1 && r === dead ? 17 : 0)));
      for (const r of res) {
        expect(r.fails, logs).toEqual([]);
        expect(r.checks).toBeGreaterThanOrEqual(49);
        // 0, 1 and 4097 elements take the lane (4097 in pieces), 1<<15 the engine: 8 calls each per count.
        expect(r.laneCalls, logs).toBeGreaterThan(40);
        if (world === 1 || r.rank === dead) continue;
        const [code, ranks, msg] = r.mismatch;
        expect([code, ranks]).toEqual(['EMISMATCH', [0, 1]]);
        expect(msg).toContain('count differs');
        const [dcode, dranks, dmsg, waited] = r.dead;
        expect([dcode, dranks], dmsg).toEqual(['EABORTED', [dead]]);
        expect(dmsg).toMatch(new RegExp(`rank ${dead} \\(pid \\d+\\) died`));
        expect(waited).toBeLessThan(30);
        expect(r.after[0]).toBe('EABORTED'); // the lane stays unusable: no call can line up wrongly again
      }
    },
    120_000,
  );
});
