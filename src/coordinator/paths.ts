// Where a job's control socket and pid file live (docs/protocol.md §1), and how a job id is
// derived from the launcher's environment (spec/jobid.json; python/opennetworks/_env.py job_id
// applies the same rule, so a Node and a Python rank of one job find the same coordinator).
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { JOB_ID } from '../gen/settings.js';

export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = setting('runDir', env) as string;
  if (explicit) return explicit;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'onet');
  return `/tmp/onet-${process.getuid?.() ?? 0}`;
}

const VALID = new RegExp(JOB_ID.pattern);
// 'u': one replacement per code point, as Python's re does (an emoji is one '_', not two).
const OUTSIDE = new RegExp(`[^${JOB_ID.allowed}]`, 'gu');

/** A launcher's value made path-safe: characters outside the allowed set become '_', cut to 64. */
export function sanitizeJobId(raw: string): string {
  return raw.replace(OUTSIDE, JOB_ID.replacement).slice(0, JOB_ID.maxLength);
}

/** The job id by spec/jobid.json: ONET_JOB_ID (checked), TORCHELASTIC_RUN_ID, SLURM_JOB_ID,
 * MASTER_ADDR_MASTER_PORT, else "default". */
export function jobId(env: NodeJS.ProcessEnv = process.env): string {
  for (const src of JOB_ID.sources) {
    const parts = src.env.map((k) => env[k] ?? '');
    // An empty part means unset; a launcher's 'none' (torchrun's default rendezvous id) names no job.
    const skip = (p: string) => p === '' || (src.mode === 'sanitise' && JOB_ID.skipValues.includes(p.toLowerCase()));
    if (parts.some(skip)) continue;
    const raw = parts.join(src.joiner);
    if (src.mode === 'sanitise') return sanitizeJobId(raw);
    if (!VALID.test(raw)) throw new OnetError('EINVAL', JOB_ID.error.replace('{value}', JSON.stringify(raw)));
    return raw;
  }
  return JOB_ID.fallback;
}

export interface JobPaths {
  dir: string;
  socket: string;
  endpoint: string;
  pidFile: string;
  log: string;
}

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
    throw new OnetError('EINVAL', `${dir} belongs to uid ${st.uid}, not to you; set ONET_RUN_DIR to a dir you own`);
  chmodSync(dir, 0o700);
}
