// Shared test helpers: run `onet run -n W -- cmd` as a real process tree and collect output.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..');
export const ONET = join(ROOT, 'bin', 'onet.js');

/**
 * A native test executable (`name`): `override` (an env var's value) if set, else where
 * `npm run build:native` (cmake-js, ONET_BUILD_TESTS=ON) or a private build puts it. When only the
 * configured cmake-js tree exists, the target is built first under the shared build lock.
 * Returns the path and the places looked in (for a skip message).
 */
export function nativeTestBinary(name: string, override?: string): { bin?: string; looked: string[] } {
  const looked = [override ?? '', join(ROOT, 'build/Release', name), join(ROOT, 'build', name)].filter((p) => p !== '');
  let bin = looked.find((p) => existsSync(p));
  if (bin === undefined && existsSync(join(ROOT, 'build/CMakeCache.txt'))) {
    spawnSync('flock', ['/tmp/onet-build.lock', 'cmake', '--build', 'build', '--target', name], {
      cwd: ROOT,
      stdio: 'inherit',
      timeout: 600_000,
    });
    bin = looked.find((p) => existsSync(p));
  }
  return { bin, looked };
}

/** Whether this build has the UCX backend (build/transport_test says so); UCX tests skip without it. */
export function ucxAvailable(): boolean {
  const bin = join(ROOT, 'build', 'transport_test');
  return existsSync(bin) && spawnSync(bin, ['--ucx-available'], { encoding: 'utf8' }).stdout.trim() === 'yes';
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runProc(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export function onetRun(n: number, script: string, env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<Ran> {
  return runProc(
    process.execPath,
    [ONET, 'run', '-n', String(n), '--', process.execPath, join(ROOT, script)],
    env,
    timeoutMs,
  );
}

/** Lines "ONET_RESULT {json}" printed by the ranks. */
export function results(out: string): any[] {
  return out
    .split('\n')
    .filter((l) => l.includes('ONET_RESULT '))
    .map((l) => JSON.parse(l.slice(l.indexOf('ONET_RESULT ') + 12)));
}

/** A job's environment for tests that check the engine's own answers (errors, counters): a 1 MiB arena and the
 * rank-side fast lane off, since lane calls never reach the engine (the lane's errors: test/node_lane.test.ts). */
export function engineEnv(job: string, timeoutS = 2): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ONET_JOB_ID: job,
    ONET_TIMEOUT: String(timeoutS),
    ONET_ARENA_BYTES: '1MiB',
    ONET_FASTLANE_MAX_BYTES: '0',
  };
}
