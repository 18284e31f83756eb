// Shared test helpers: run `onet run -n W -- cmd` as a real process tree and collect output.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..');
export const ONET = join(ROOT, 'bin', 'onet.js');

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
