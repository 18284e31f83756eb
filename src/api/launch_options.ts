// launch()'s inputs made safe: option checks, the job id rule, the MASTER_PORT pick, the
// environment each rank starts with, and a rank's exit as one shell-style number.
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { OnetError } from '../errors.js';
import type { LaunchOptions } from './launch_types.js';

const JOB_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** An exit as one number, shell style: the code, or 128 + the signal's number. */
export function exitNumber(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + ((signal && constants.signals[signal]) || 0);
}

export function checkOptions(o: LaunchOptions): void {
  const bad = (what: string) => {
    throw new OnetError('EINVAL', `launch(): ${what}`);
  };
  if (!o || typeof o !== 'object') bad('pass an options object: launch({ nprocs: 4, cmd: ["node", "train.mjs"] })');
  if (!Number.isInteger(o.nprocs) || o.nprocs < 1)
    bad(`nprocs must be an integer ≥ 1, got ${JSON.stringify(o.nprocs)}`);
  if (!Array.isArray(o.cmd) || o.cmd.length === 0 || !o.cmd.every((a) => typeof a === 'string') || !o.cmd[0])
    bad(
      'cmd must be a non-empty array of strings, program first (e.g. ["python", "train.py"]), ' +
        `got ${JSON.stringify(o.cmd)}`,
    );
  if (o.web !== undefined && !(Number.isInteger(o.web) && o.web >= 0))
    bad(`web must be an integer ≥ 0 (browser ranks to reserve), got ${JSON.stringify(o.web)}`);
  if (o.jobId !== undefined && !JOB_RE.test(o.jobId))
    bad(`jobId ${JSON.stringify(o.jobId)} must be 1-64 characters of [A-Za-z0-9_.-]`);
  for (const k of ['timeoutMs', 'failFastDelayMs', 'graceMs', 'metricsIntervalMs'] as const)
    if (o[k] !== undefined && !(Number.isFinite(o[k]) && o[k]! >= 0))
      bad(`${k} must be a number of milliseconds ≥ 0, got ${JSON.stringify(o[k])}`);
}

/** The launcher variables of rank `r` of `n` on top of the job's environment. */
export function rankEnv(env: NodeJS.ProcessEnv, r: number, n: number, masterPort: number, web = 0): NodeJS.ProcessEnv {
  // Web ranks (n..n+web-1) are local ranks of this host's engine too.
  return {
    ...env,
    RANK: String(r),
    WORLD_SIZE: String(n + web),
    LOCAL_RANK: String(r),
    LOCAL_WORLD_SIZE: String(n + web),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(masterPort),
    PYTHONUNBUFFERED: '1',
    // torch's env:// store must not wait for the web ranks (opennetworks/torch/_rendezvous.py).
    ...(web ? { ONET_WEB_RANKS: String(web) } : {}),
  };
}
