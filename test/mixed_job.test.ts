// One job, two languages, only torchrun's variables: Node and Python ranks must derive the same
// job id (spec/jobid.json) from MASTER_ADDR and MASTER_PORT, meet at one coordinator and allreduce
// together. Before the job-id rule was shared, Node looked for <addr>_<port> and Python for
// <addr>-<port>: the ranks waited at two coordinators until ONET_CONNECT_TIMEOUT.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rankEnv, runMixedJob } from './mixed_ranks.js';

const N = 4097;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The launcher's environment only: no job id of ours or of another launcher. */
const torchrunEnv = (r: number, world: number, port: number, runDir: string): NodeJS.ProcessEnv => ({
  ...rankEnv(r, world, (k) => k === 'TORCHELASTIC_RUN_ID' || k === 'SLURM_JOB_ID'),
  MASTER_ADDR: '127.0.0.1',
  MASTER_PORT: String(port),
  // Bounded: on a job-id mismatch the ranks fail after this long instead of hanging.
  ONET_RUN_DIR: runDir,
  ONET_CONNECT_TIMEOUT: '20',
  ONET_TIMEOUT: '60',
  ONET_ARENA_BYTES: '16MiB',
});

describe('a Node rank and a Python rank of one torchrun job', () => {
  it.each([[['node', 'python']], [['python', 'node', 'python']]] as const)(
    '%j allreduce together',
    async (langs) => {
      const world = langs.length;
      const runDir = mkdtempSync(join(tmpdir(), 'onet-mixed-'));
      dirs.push(runDir);
      const port = 20000 + Math.floor(Math.random() * 20000);
      const { ran, res, logs } = await runMixedJob(
        langs,
        'test/fixtures/mixed_job_rank',
        (r) => torchrunEnv(r, world, port, runDir),
        90_000,
      );
      expect(res.length, logs).toBe(world);
      const want = Array.from({ length: 8 }, (_, i) => (world * (world + 1)) / 2 + world * (i % 7));
      let total = 0;
      for (let i = 0; i < N; i++) total += (world * (world + 1)) / 2 + world * (i % 7);
      for (const r of res) {
        expect(r.lang).toBe(langs[r.rank]);
        expect(r.job).toBe(`127.0.0.1_${port}`);
        expect(r.head).toEqual(want);
        expect(r.sum).toBe(total);
      }
      expect(
        ran.map((r) => r.code),
        logs,
      ).toEqual(langs.map(() => 0));
    },
    120_000,
  );
});
