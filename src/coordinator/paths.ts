// Where a job's control socket and pid file live (docs/protocol.md §1), and how a job id is
// derived from the launcher's environment.
import { mkdirSync, chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setting } from '../config/settings.js';

export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = setting('runDir', env) as string;
  if (explicit) return explicit;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'onet');
  return `/tmp/onet-${process.getuid?.() ?? 0}`;
}

export function jobId(env: NodeJS.ProcessEnv = process.env): string {
  const raw = (setting('jobId', env) as string) || env.TORCHELASTIC_RUN_ID || env.SLURM_JOB_ID ||
    (env.MASTER_ADDR && env.MASTER_PORT ? `${env.MASTER_ADDR}_${env.MASTER_PORT}` : '') || 'default';
  return raw.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
}

export interface JobPaths { dir: string; socket: string; endpoint: string; pidFile: string; log: string }

export function jobPaths(job: string, env: NodeJS.ProcessEnv = process.env): JobPaths {
  const dir = join(runDir(env), job);
  const socket = join(dir, 'coord.sock');
  return { dir, socket, endpoint: `ipc://${socket}`, pidFile: join(dir, 'coord.pid'), log: join(dir, 'coord.log') };
}

/** Create the run and job directories owner-only (0700); refuse one owned by someone else. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (process.getuid && st.uid !== process.getuid())
    throw new Error(`EINVAL: ${dir} belongs to uid ${st.uid}, not to you; set ONET_RUN_DIR to a directory of your own`);
  chmodSync(dir, 0o700);
}
