// The public shapes of launch(): its options, the events a Job emits and its exit summary.
// Types only; launch.ts re-exports them.
import type { JobMetrics } from './job_metrics.js';

/** What {@link launch} starts. */
export interface LaunchOptions {
  /** Number of ranks (processes) to start on this host, at least 1. */
  nprocs: number;
  /**
   * Browser/Pyodide ranks to reserve after the processes: ranks nprocs..nprocs+web-1 join over
   * WebSocket through the URLs of {@link Job.webUrls} (src/web). WORLD_SIZE is then nprocs + web.
   */
  web?: number;
  /** The command every rank runs, program first: `['python', 'train.py', '--lr', '0.1']`. */
  cmd: string[];
  /**
   * Variables set on top of this process's environment, for the ranks and the coordinator
   * (ONET_* settings apply to both).
   */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the ranks (default: this process's). */
  cwd?: string;
  /** Job id, 1-64 characters of `[A-Za-z0-9_.-]` (default: a fresh `run-<pid>-<hex>`). Becomes ONET_JOB_ID. */
  jobId?: string;
  /**
   * Stop the job (as {@link Job.stop} does) once it has run this long; the exit reason is then
   * `timeout`. Default: no limit.
   */
  timeoutMs?: number;
  /** When a rank exits non-zero or is killed, stop the others (default true). */
  failFast?: boolean;
  /**
   * With failFast, how long the other ranks get to finish on their own before they are sent
   * SIGTERM (default 5000 ms): their pending collectives fail with EABORTED naming the dead
   * rank, which they can still print.
   */
  failFastDelayMs?: number;
  /** Between SIGTERM and SIGKILL when ranks are stopped by failFast or timeoutMs (default 5000 ms). */
  graceMs?: number;
  /** Interval of `metrics` events in ms (default 1000; 0 turns them off). Sampled only while someone listens. */
  metricsIntervalMs?: number;
  /** Where the coordinator's own log lines go (default: this process's stderr; level from ONET_LOG). */
  coordinatorLog?: (line: string) => void;
}

/** One line a rank wrote, emitted as `job.on('log', e => …)`. */
export interface LogEvent {
  rank: number;
  stream: 'stdout' | 'stderr';
  /** The line without its trailing newline. */
  line: string;
}

/** How one rank ended. */
export interface RankExit {
  rank: number;
  /** Its process id (undefined when it could not be started). */
  pid?: number;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
  /** Why it could not be started (e.g. `spawn python ENOENT`); its code is then 127. */
  error?: string;
}

/**
 * Why the job ended: `ok` (every rank exited 0), `failed` (a rank exited non-zero or was
 * killed on its own), `stopped` ({@link Job.stop} was called), `timeout` (timeoutMs passed).
 */
export type ExitReason = 'ok' | 'failed' | 'stopped' | 'timeout';

/** The job's exit summary: the `exit` event's payload and what {@link Job.wait} resolves to. */
export interface JobExit {
  job: string;
  /**
   * 0 when every rank exited 0; else the exit code of the first rank that failed on its own
   * (128 + the signal number when a signal ended it), else that of the first rank that
   * exited non-zero after being stopped.
   */
  code: number;
  reason: ExitReason;
  /** The first rank that failed on its own (not because it was stopped), if any. */
  failed?: RankExit;
  /** Every rank, in rank order. */
  ranks: RankExit[];
  /** Milliseconds from launch to the last rank's exit. */
  durationMs: number;
}

/** Options of {@link Job.stop}. */
export interface StopOptions {
  /** Signal sent first (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** Milliseconds to wait before SIGKILL (default 5000). */
  graceMs?: number;
}

/** Events of a {@link Job}, for `job.on(name, listener)`. */
export interface JobEvents {
  /** A line a rank wrote to stdout or stderr. */
  log: [LogEvent];
  /** A {@link JobMetrics} sample, every `metricsIntervalMs`. */
  metrics: [JobMetrics];
  /** One rank's process exited (the job may still be running). */
  rankExit: [RankExit];
  /** The first rank that failed on its own; with failFast the others are stopped next. */
  failed: [RankExit];
  /** Every rank has exited and the coordinator has shut down. */
  exit: [JobExit];
}
