// launch(): the Node orchestrator, and what `onet run` is built on. It starts this host's
// coordinator inside this process and N rank processes with the launcher environment
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ONET_JOB_ID),
// streams their output and the job's metrics as events, and at the end leaves no process,
// socket or /dev/shm segment behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rmdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { makeLogger } from '../coordinator/log.js';
import { Coordinator } from '../coordinator/server.js';
import { OnetError } from '../errors.js';
import { clientAuth, generateToken } from '../security/auth.js';
import { Control } from './control.js';
import { buildMetrics, type JobMetrics } from './job_metrics.js';
import { splitLines } from './lines.js';
import { killGroup, release, track } from './reaper.js';

/** What {@link launch} starts. */
export interface LaunchOptions {
  /** Number of ranks (processes) to start on this host, at least 1. */
  nprocs: number;
  /** The command every rank runs, program first: `['python', 'train.py', '--lr', '0.1']`. */
  cmd: string[];
  /** Variables set on top of this process's environment, for the ranks and the coordinator (ONET_* settings apply to both). */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the ranks (default: this process's). */
  cwd?: string;
  /** Job id, 1-64 characters of `[A-Za-z0-9_.-]` (default: a fresh `run-<pid>-<hex>`). Becomes ONET_JOB_ID. */
  jobId?: string;
  /** Stop the job (as {@link Job.stop} does) once it has run this long; the exit reason is then `timeout`. Default: no limit. */
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

interface RankProc {
  rank: number;
  child: ChildProcess;
  pid?: number;
  exited: boolean;
  closed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

const JOB_RE = /^[A-Za-z0-9_.-]{1,64}$/;

async function freePort(): Promise<number> {
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

function checkOptions(o: LaunchOptions): void {
  const bad = (what: string) => {
    throw new OnetError('EINVAL', `launch(): ${what}`);
  };
  if (!o || typeof o !== 'object') bad('pass an options object: launch({ nprocs: 4, cmd: ["node", "train.mjs"] })');
  if (!Number.isInteger(o.nprocs) || o.nprocs < 1)
    bad(`nprocs must be an integer ≥ 1, got ${JSON.stringify(o.nprocs)}`);
  if (!Array.isArray(o.cmd) || o.cmd.length === 0 || !o.cmd.every((a) => typeof a === 'string') || !o.cmd[0])
    bad(
      `cmd must be a non-empty array of strings, program first (e.g. ["python", "train.py"]), got ${JSON.stringify(o.cmd)}`,
    );
  if (o.jobId !== undefined && !JOB_RE.test(o.jobId))
    bad(`jobId ${JSON.stringify(o.jobId)} must be 1-64 characters of [A-Za-z0-9_.-]`);
  for (const k of ['timeoutMs', 'failFastDelayMs', 'graceMs', 'metricsIntervalMs'] as const)
    if (o[k] !== undefined && !(Number.isFinite(o[k]) && o[k]! >= 0))
      bad(`${k} must be a number of milliseconds ≥ 0, got ${JSON.stringify(o[k])}`);
}

/**
 * A running job: N rank processes and the coordinator that serves them.
 * Made by {@link launch}; listen with `job.on('log' | 'metrics' | 'exit', …)`.
 */
export class Job extends EventEmitter<JobEvents> {
  /** The job id (ONET_JOB_ID of every rank). */
  readonly id: string;
  /** Number of ranks. */
  readonly nprocs: number;
  /** MASTER_PORT given to the ranks (a free TCP port on 127.0.0.1 when the job started). */
  readonly masterPort: number;
  private readonly procs: RankProc[] = [];
  private readonly startedAt = Date.now();
  private readonly control: Control;
  private readonly exited: Promise<JobExit>;
  private resolveExit!: (e: JobExit) => void;
  private summary?: JobExit;
  private failed?: RankProc;
  private stopReason?: 'stopped' | 'timeout';
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  private sampling = false;
  private finishing = false;

  private constructor(
    private readonly coord: Coordinator,
    private readonly opts: LaunchOptions,
    id: string,
    port: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    super();
    this.id = id;
    this.nprocs = opts.nprocs;
    this.masterPort = port;
    this.control = new Control(coord.endpoint);
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  /** @internal Use {@link launch}. */
  static async start(opts: LaunchOptions): Promise<Job> {
    checkOptions(opts);
    const id = opts.jobId ?? `run-${process.pid}-${randomBytes(3).toString('hex')}`;
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, ONET_JOB_ID: id };
    // A per-job secret the ranks inherit: strangers on this host cannot join (docs/protocol.md §8).
    env.ONET_JOB_TOKEN ||= generateToken();
    const log = opts.coordinatorLog ? makeLogger(`[onet coordinator ${id}]`, opts.coordinatorLog) : undefined;
    const coord = await Coordinator.start({ job: id, world: opts.nprocs, env, log });
    let port: number;
    try {
      port = await freePort();
    } catch (e) {
      await coord.close();
      throw OnetError.fromNative(e);
    }
    const job = new Job(coord, opts, id, port, env);
    try {
      for (let r = 0; r < opts.nprocs; r++) job.spawnRank(r);
    } catch (e) {
      // spawn() throws only for unusable arguments (a NUL byte, a bad cwd type): undo.
      for (const p of job.procs) {
        killGroup(p.pid, 'SIGKILL');
        if (p.pid) release(p.pid);
      }
      job.control.close();
      await coord.close();
      throw new OnetError('EINVAL', `launch(): cannot start ${JSON.stringify(opts.cmd)}: ${(e as Error).message}`);
    }
    job.startTimers();
    return job;
  }

  private spawnRank(r: number): void {
    const n = this.nprocs,
      [prog, ...args] = this.opts.cmd;
    // detached: its own process group, so stop() reaches whatever the rank started too.
    const child = spawn(prog, args, {
      cwd: this.opts.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...this.env,
        RANK: String(r),
        WORLD_SIZE: String(n),
        LOCAL_RANK: String(r),
        LOCAL_WORLD_SIZE: String(n),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(this.masterPort),
        PYTHONUNBUFFERED: '1',
      },
    });
    const p: RankProc = { rank: r, child, pid: child.pid, exited: false, closed: false, code: null, signal: null };
    this.procs.push(p);
    if (p.pid) track(p.pid);
    splitLines(child.stdout!, (line) => this.emit('log', { rank: r, stream: 'stdout', line }));
    splitLines(child.stderr!, (line) => this.emit('log', { rank: r, stream: 'stderr', line }));
    child.on('error', (e) => {
      p.error = e.message;
      this.emit('log', { rank: r, stream: 'stderr', line: `onet: cannot start ${prog}: ${e.message}` });
    });
    child.on('exit', (code, signal) => this.onExit(p, code, signal));
    child.on('close', (code, signal) => {
      this.onExit(p, code, signal);
      p.closed = true;
      if (this.procs.length === n && this.procs.every((q) => q.closed)) void this.finish();
    });
  }

  private onExit(p: RankProc, code: number | null, signal: NodeJS.Signals | null): void {
    if (p.exited) return;
    p.exited = true;
    // A process that could not be started reports a negative errno; say 127 as a shell would.
    p.code = p.error !== undefined || (code !== null && code < 0) ? 127 : code;
    p.signal = signal;
    // Whatever the rank left running in its group goes with it (and closes its pipes).
    if (p.pid) {
      killGroup(p.pid, 'SIGKILL');
      release(p.pid);
    }
    const info = this.exitInfo(p);
    this.emit('rankExit', info);
    if ((p.code === 0 && !p.signal) || this.failed || this.stopping) return;
    this.failed = p;
    this.emit('failed', info);
    if (this.opts.failFast === false) return;
    const t = setTimeout(() => this.signalAll('SIGTERM', this.opts.graceMs ?? 5000), this.opts.failFastDelayMs ?? 5000);
    this.timers.push(t);
  }

  private exitInfo(p: RankProc): RankExit {
    return { rank: p.rank, pid: p.pid, code: p.code, signal: p.signal, ...(p.error ? { error: p.error } : {}) };
  }

  private startTimers(): void {
    const every = this.opts.metricsIntervalMs ?? 1000;
    if (every > 0) {
      const t = setInterval(() => {
        if (this.listenerCount('metrics') > 0) void this.sample();
      }, every);
      t.unref();
      this.timers.push(t);
    }
    if (this.opts.timeoutMs) {
      const t = setTimeout(() => {
        this.stopReason ??= 'timeout';
        this.signalAll('SIGTERM', this.opts.graceMs ?? 5000);
      }, this.opts.timeoutMs);
      this.timers.push(t);
    }
  }

  private async sample(): Promise<void> {
    if (this.sampling || this.finishing) return;
    this.sampling = true;
    try {
      const m = await this.metrics();
      if (!this.finishing) this.emit('metrics', m);
    } finally {
      this.sampling = false;
    }
  }

  /** Send `sig` to every rank still running, and SIGKILL to those left after graceMs. */
  private signalAll(sig: NodeJS.Signals, graceMs: number): void {
    this.stopping = true;
    const live = this.procs.filter((p) => !p.exited);
    for (const p of live) killGroup(p.pid, sig);
    if (live.length && sig !== 'SIGKILL') {
      const t = setTimeout(() => {
        for (const p of this.procs) if (!p.exited) killGroup(p.pid, 'SIGKILL');
      }, graceMs);
      this.timers.push(t);
    }
  }

  private async finish(): Promise<void> {
    if (this.summary || this.finishing) return;
    this.finishing = true;
    for (const t of this.timers) clearTimeout(t);
    this.control.close();
    await this.coord.close();
    try {
      rmdirSync(this.coord.paths.dir);
    } catch {
      /* not empty, or gone: leave it */
    }
    const ranks = this.procs.map((p) => this.exitInfo(p));
    const firstBad = this.failed ?? this.procs.find((p) => p.code !== 0 || p.signal);
    const failed = this.failed ? ranks[this.failed.rank] : undefined;
    this.summary = {
      job: this.id,
      code: firstBad ? exitNumber(firstBad.code, firstBad.signal) || 1 : 0,
      reason: failed ? 'failed' : (this.stopReason ?? (firstBad ? 'failed' : 'ok')),
      ...(failed ? { failed } : {}),
      ranks,
      durationMs: Date.now() - this.startedAt,
    };
    this.emit('exit', this.summary);
    this.resolveExit(this.summary);
  }

  /** True until every rank has exited and the coordinator has shut down. */
  get running(): boolean {
    return !this.summary;
  }

  /** Ranks whose process has not exited yet. */
  get liveRanks(): number[] {
    return this.procs.filter((p) => !p.exited).map((p) => p.rank);
  }

  /** Process ids of the ranks, in rank order (undefined for a rank that could not be started). */
  get pids(): Array<number | undefined> {
    return this.procs.map((p) => p.pid);
  }

  /** The exit summary, once every rank has exited and the coordinator has shut down. Never rejects. */
  wait(): Promise<JobExit> {
    return this.exited;
  }

  /**
   * Stop the job: `signal` (default SIGTERM) to every rank's process group, SIGKILL to what is
   * left after `graceMs` (default 5000), then the coordinator shuts down and its sockets and
   * segments are removed. Resolves to the exit summary (reason `stopped` unless the job had
   * already ended or failed).
   */
  async stop(o: StopOptions = {}): Promise<JobExit> {
    if (!this.summary) {
      this.stopReason ??= 'stopped';
      this.signalAll(o.signal ?? 'SIGTERM', o.graceMs ?? 5000);
    }
    return this.exited;
  }

  /** One metrics sample now: the coordinator's `status` joined with each rank's process state. */
  async metrics(): Promise<JobMetrics> {
    let status: Record<string, any> | undefined, error: string | undefined;
    try {
      status = await this.control.request(
        { type: 'status', ...clientAuth(this.env, ['status', this.id], ['rank']) },
        2000,
      );
    } catch (e) {
      error = `the coordinator did not answer status: ${(e as Error).message}`;
    }
    // The coordinator's telemetry (src/telemetry), passed through: engine counters, each
    // rank's last completed op, and the /metrics and dashboard URLs when those are on.
    const telemetry =
      status && (status.stats || status.lastOps || status.telemetry)
        ? { stats: status.stats, lastOps: status.lastOps, urls: status.telemetry }
        : undefined;
    return buildMetrics(this.id, this.nprocs, this.startedAt, this.procs, status, telemetry, error);
  }
}

/**
 * Start a job on this host: a coordinator in this process and `nprocs` processes running
 * `cmd`, each with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
 * and ONET_JOB_ID set, so `init()` (Node), `opennetworks.init()` or
 * `dist.init_process_group("opennetworks")` (Python) join it.
 *
 * ```ts
 * const job = await launch({ nprocs: 4, cmd: ['python', 'train.py'] });
 * job.on('log', ({ rank, line }) => console.log(`[rank ${rank}] ${line}`));
 * const { code, failed } = await job.wait();
 * ```
 *
 * @throws OnetError EINVAL for bad options, or when a coordinator for `jobId` already runs.
 */
export function launch(opts: LaunchOptions): Promise<Job> {
  return Job.start(opts);
}
