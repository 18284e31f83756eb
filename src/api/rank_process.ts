// One rank process of launch(): spawned in its own process group with its launcher environment,
// its stdout/stderr turned into log events line by line, and on exit its group reaped and how
// it ended recorded exactly once ('exit' and 'close' both report it; the first one counts).
import { type ChildProcess, spawn } from 'node:child_process';
import type { LogEvent, RankExit } from './launch_types.js';
import { splitLines } from './lines.js';
import { killGroup, release, track } from './reaper.js';

export interface RankProc {
  rank: number;
  child: ChildProcess;
  pid?: number;
  exited: boolean;
  closed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

/** What a rank process reports back to its Job. */
export interface RankHooks {
  /** A line it wrote, or why it could not be started. */
  log(e: LogEvent): void;
  /** Its process ended (may come twice: from 'exit' and from 'close'). */
  exit(p: RankProc, code: number | null, signal: NodeJS.Signals | null): void;
  /** Its process ended and its pipes are closed. */
  closed(p: RankProc): void;
}

/** Start rank `rank` running `cmd` with `env`; throws only for unusable arguments (a NUL byte, a bad cwd type). */
export function spawnRank(
  cmd: string[],
  cwd: string | undefined,
  env: NodeJS.ProcessEnv,
  rank: number,
  hooks: RankHooks,
): RankProc {
  const [prog, ...args] = cmd;
  // detached: its own process group, so stop() reaches whatever the rank started too.
  const child = spawn(prog, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  const p: RankProc = { rank, child, pid: child.pid, exited: false, closed: false, code: null, signal: null };
  if (p.pid) track(p.pid);
  splitLines(child.stdout!, (line) => hooks.log({ rank, stream: 'stdout', line }));
  splitLines(child.stderr!, (line) => hooks.log({ rank, stream: 'stderr', line }));
  child.on('error', (e) => {
    p.error = e.message;
    hooks.log({ rank, stream: 'stderr', line: `onet: cannot start ${prog}: ${e.message}` });
  });
  child.on('exit', (code, signal) => hooks.exit(p, code, signal));
  child.on('close', (code, signal) => {
    hooks.exit(p, code, signal);
    p.closed = true;
    hooks.closed(p);
  });
  return p;
}

/** Record how `p` ended and reap its process group; false when that was already done. */
export function recordExit(p: RankProc, code: number | null, signal: NodeJS.Signals | null): boolean {
  if (p.exited) return false;
  p.exited = true;
  // A process that could not be started reports a negative errno; say 127 as a shell would.
  p.code = p.error !== undefined || (code !== null && code < 0) ? 127 : code;
  p.signal = signal;
  // Whatever the rank left running in its group goes with it (and closes its pipes).
  if (p.pid) {
    killGroup(p.pid, 'SIGKILL');
    release(p.pid);
  }
  return true;
}

export function exitInfo(p: RankProc): RankExit {
  return { rank: p.rank, pid: p.pid, code: p.code, signal: p.signal, ...(p.error ? { error: p.error } : {}) };
}
