// Set-up shared by the tests of one job whose ranks are Node and Python processes on this host
// (test/mixed_job.test.ts, test/fastlane_mixed.test.ts): each rank runs a fixture in its language
// with an environment of its own, built from this process's without any ONET_* setting.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, results } from './helpers.js';

export type Lang = 'node' | 'python';
const PY = join(ROOT, '.venv', 'bin', 'python');

export interface MixedRun {
  /** Each rank's exit code and output (stdout and stderr as they came), by rank. */
  ran: { code: number | null; out: string }[];
  /** The ranks' ONET_RESULT objects, sorted by rank. */
  res: any[];
  /** Each rank's exit code and last output, for assertion messages. */
  logs: string;
}

/**
 * This process's environment without ONET_* (nor the names `drop` picks), and the launcher's
 * variables of rank `r` of `world`, all on this host, with this checkout's Python package.
 */
export function rankEnv(r: number, world: number, drop: (name: string) => boolean = () => false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('ONET_') || drop(k)) delete env[k];
  return {
    ...env,
    RANK: String(r),
    WORLD_SIZE: String(world),
    LOCAL_RANK: String(r),
    LOCAL_WORLD_SIZE: String(world),
    PYTHONPATH: join(ROOT, 'python'),
  };
}

function runRank(lang: Lang, fixture: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<MixedRun['ran'][0]> {
  const [cmd, script] = lang === 'node' ? [process.execPath, `${fixture}.mjs`] : [PY, `${fixture}.py`];
  return new Promise((resolve) => {
    const p = spawn(cmd, [join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

/**
 * One job of `langs.length` ranks: rank r runs `<fixture>.mjs` under Node or `<fixture>.py` under the
 * checkout's Python (langs[r]) with exactly `env(r)` (start from rankEnv); each is killed after `timeoutMs`.
 */
export async function runMixedJob(
  langs: readonly Lang[],
  fixture: string,
  env: (r: number) => NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<MixedRun> {
  const ran = await Promise.all(langs.map((l, r) => runRank(l, fixture, env(r), timeoutMs)));
  const logs = ran.map((x, r) => `--- rank ${r} (${langs[r]}) exit ${x.code}\n${x.out.slice(-2000)}`).join('\n');
  const res = ran.flatMap((x) => results(x.out)).sort((a, b) => a.rank - b.rank);
  return { ran, res, logs };
}
