// The rank-side fast lane is on by default (ONET_FASTLANE_MAX_BYTES 1MiB), yet a job that mixes Python
// ranks (which have the lane) with Node ranks (which do not) must run its small collectives together:
// the lane is used only for communicators whose every rank declared it at register (docs/protocol.md §2
// `lane`). Before that, the Python ranks met in the lane while the Node rank waited at the engine.
// Real processes: Node and Python ranks of one job, one real coordinator.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, results } from './helpers';

const PY = join(ROOT, '.venv', 'bin', 'python');
const NODE_RANK = join(ROOT, 'test', 'fixtures', 'fastlane_mixed_rank.mjs');
const PY_RANK = join(ROOT, 'test', 'fixtures', 'fastlane_mixed_rank.py');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Lang = 'node' | 'python';

function rank(lang: Lang, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  const [cmd, args] = lang === 'node' ? [process.execPath, [NODE_RANK]] : [PY, [PY_RANK]];
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

function rankEnv(r: number, langs: readonly Lang[], runDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('ONET_')) delete env[k]; // the lane at its default
  const pys = langs.flatMap((l, i) => (l === 'python' ? [i] : []));
  return {
    ...env,
    RANK: String(r),
    WORLD_SIZE: String(langs.length),
    LOCAL_RANK: String(r),
    LOCAL_WORLD_SIZE: String(langs.length),
    PYTHONPATH: join(ROOT, 'python'),
    ONET_JOB_ID: `fl-mixed-${process.pid}-${langs.join('-')}`,
    ONET_RUN_DIR: runDir,
    ONET_CONNECT_TIMEOUT: '20',
    ONET_TIMEOUT: '20', // without the capability check the ranks fail or time out within this
    ONET_ARENA_BYTES: '16MiB',
    FL_PY_RANKS: pys.join(','),
  };
}

describe('fast lane on by default in a job with and without Node ranks', () => {
  it.each([[['python', 'node', 'python']], [['node', 'python']], [['python', 'python']]] as const)(
    '%j: small collectives complete; only all-Python communicators use the lane',
    async (langs) => {
      const runDir = mkdtempSync(join(tmpdir(), 'onet-flmix-'));
      dirs.push(runDir);
      const ran = await Promise.all(langs.map((l, r) => rank(l, rankEnv(r, langs, runDir), 60_000)));
      const logs = ran.map((r, i) => `--- rank ${i} (${langs[i]}) exit ${r.code}\n${r.out.slice(-2000)}`).join('\n');
      const res = ran.flatMap((r) => results(r.out)).sort((a, b) => a.rank - b.rank);
      expect(res.length, logs).toBe(langs.length);
      const allPython = langs.every((l) => l === 'python');
      const pys = langs.filter((l) => l === 'python').length;
      for (const r of res) {
        expect(r.lang).toBe(langs[r.rank]);
        expect(r.fails, logs).toEqual([]);
        if (r.lang === 'python') {
          expect(r.worldLane, `rank ${r.rank}: the world's lane`).toBe(allPython);
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
