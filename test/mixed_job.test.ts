// One job, two languages, only torchrun's variables: Node and Python ranks must derive the same
// job id (spec/jobid.json) from MASTER_ADDR and MASTER_PORT, meet at one coordinator and allreduce
// together. Before the job-id rule was shared, Node looked for <addr>_<port> and Python for
// <addr>-<port>: the ranks waited at two coordinators until ONET_CONNECT_TIMEOUT.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, results } from './helpers';

const PY = join(ROOT, '.venv', 'bin', 'python');
const NODE_RANK = join(ROOT, 'test', 'fixtures', 'mixed_job_rank.mjs');
const PY_RANK = join(ROOT, 'test', 'fixtures', 'mixed_job_rank.py');
const N = 4097;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Ran {
  rank: number;
  code: number | null;
  out: string;
}

function rank(lang: 'node' | 'python', env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  const [cmd, args] = lang === 'node' ? [process.execPath, [NODE_RANK]] : [PY, [PY_RANK]];
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ rank: Number(env.RANK), code, out });
    });
  });
}

/** The launcher's environment only: no job id of ours or of another launcher. */
function torchrunEnv(r: number, world: number, port: number, runDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('ONET_') || k === 'TORCHELASTIC_RUN_ID' || k === 'SLURM_JOB_ID') delete env[k];
  }
  return {
    ...env,
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    RANK: String(r),
    WORLD_SIZE: String(world),
    LOCAL_RANK: String(r),
    LOCAL_WORLD_SIZE: String(world),
    PYTHONPATH: join(ROOT, 'python'),
    // Bounded: on a job-id mismatch the ranks fail after this long instead of hanging.
    ONET_RUN_DIR: runDir,
    ONET_CONNECT_TIMEOUT: '20',
    ONET_TIMEOUT: '60',
    ONET_ARENA_BYTES: '16MiB',
  };
}

describe('a Node rank and a Python rank of one torchrun job', () => {
  it.each([[['node', 'python']], [['python', 'node', 'python']]] as const)(
    '%j allreduce together',
    async (langs) => {
      const world = langs.length;
      const runDir = mkdtempSync(join(tmpdir(), 'onet-mixed-'));
      dirs.push(runDir);
      const port = 20000 + Math.floor(Math.random() * 20000);
      const ran = await Promise.all(langs.map((l, r) => rank(l, torchrunEnv(r, world, port, runDir), 90_000)));
      const res = ran.flatMap((r) => results(r.out));
      const logs = ran
        .map((r) => `--- rank ${r.rank} (${langs[r.rank]}) exit ${r.code}\n${r.out.slice(-2000)}`)
        .join('\n');
      expect(res.length, logs).toBe(world);
      const want = Array.from({ length: 8 }, (_, i) => (world * (world + 1)) / 2 + world * (i % 7));
      let total = 0;
      for (let i = 0; i < N; i++) total += (world * (world + 1)) / 2 + world * (i % 7);
      for (const r of res.sort((a, b) => a.rank - b.rank)) {
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
