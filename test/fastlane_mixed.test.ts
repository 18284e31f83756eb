// The rank-side fast lane is on by default (ONET_FASTLANE_MAX_BYTES 1MiB), yet a job that mixes Python
// ranks with Node ranks must run its small collectives together (both declare the lane now):
// the lane is used only for communicators whose every rank declared it at register (docs/protocol.md §2
// `lane`). Before that, the Python ranks met in the lane while the Node rank waited at the engine.
// Allreduces, broadcasts and all_gathers above the 1 MiB block stay on the lane as direct calls
// (native/rank/fastlane.h "Direct calls") in Node and Python ranks alike.
// Real processes: Node and Python ranks of one job, one real coordinator.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Lang, rankEnv, runMixedJob } from './mixed_ranks.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Rank r's environment: the lane at its default (no ONET_* but these). */
const laneEnv = (r: number, langs: readonly Lang[], runDir: string): NodeJS.ProcessEnv => ({
  ...rankEnv(r, langs.length),
  ONET_JOB_ID: `fl-mixed-${process.pid}-${langs.join('-')}`,
  ONET_RUN_DIR: runDir,
  ONET_CONNECT_TIMEOUT: '20',
  ONET_TIMEOUT: '20', // without the capability check the ranks fail or time out within this
  ONET_ARENA_BYTES: '16MiB',
  FL_PY_RANKS: langs.flatMap((l, i) => (l === 'python' ? [i] : [])).join(','),
});

describe('fast lane on by default in a job with and without Node ranks', () => {
  it.each([[['python', 'node', 'python']], [['node', 'python']], [['python', 'python']]] as const)(
    '%j: small collectives complete; Node and Python ranks share the lane',
    async (langs) => {
      const runDir = mkdtempSync(join(tmpdir(), 'onet-flmix-'));
      dirs.push(runDir);
      const { ran, res, logs } = await runMixedJob(
        langs,
        'test/fixtures/fastlane_mixed_rank',
        (r) => laneEnv(r, langs, runDir),
        60_000,
      );
      expect(res.length, logs).toBe(langs.length);
      const pys = langs.filter((l) => l === 'python').length;
      for (const r of res) {
        expect(r.lang).toBe(langs[r.rank]);
        expect(r.fails, logs).toEqual([]);
        if (r.lang === 'python') {
          // Node ranks declare the lane too (src/api/comm_lane.ts): the world communicator takes it.
          expect(r.worldLane, `rank ${r.rank}: the world's lane`).toBe(true);
          // 1.2 MB allreduce, broadcast, all_gather and reduce_scatter: direct lane calls on every rank, Node's
          // included (none at the engine).
          expect(r.bigEngineCalls, logs).toBe(0);
          // A subgroup of the Python ranks alone takes the lane (one call) even in a mixed job.
          expect(r.subLaneCalls).toBe(pys > 1 ? 1 : null);
        }
      }
      expect(
        ran.map((r) => r.code),
        logs,
      ).toEqual(langs.map(() => 0));
    },
    90_000,
  );
});
