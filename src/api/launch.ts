// launch(): the Node orchestrator, and what `onet run` is built on. It starts this host's
// coordinator inside this process and N rank processes with the launcher environment
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ONET_JOB_ID),
// streams their output and the job's metrics as events, and at the end leaves no process,
// socket or /dev/shm segment behind.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rmdirSync } from 'node:fs';
import { makeLogger } from '../coordinator/log.js';
import { Coordinator } from '../coordinator/server.js';
import { OnetError } from '../errors.js';
import { clientAuth, generateToken } from '../security/auth.js';
import { Control } from './control.js';
import { buildMetrics, type JobMetrics } from './job_metrics.js';
import { checkOptions, exitNumber, freePort, rankEnv } from './launch_options.js';
import type { JobEvents, JobExit, LaunchOptions, StopOptions } from './launch_types.js';
import { exitInfo, type RankProc, recordExit, spawnRank } from './rank_process.js';
import { killGroup, release } from './reaper.js';

export { exitNumber } from './launch_options.js';
export type {
  ExitReason,
  JobEvents,
  JobExit,
  LaunchOptions,
  LogEvent,
  RankExit,
  StopOptions,
} from './launch_types.js';

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
    const web = opts.web ? { first: opts.nprocs, count: opts.web } : undefined;
    const coord = await Coordinator.start({ job: id, world: opts.nprocs + (opts.web ?? 0), env, log, web });
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
    const n = this.nprocs;
    const env = rankEnv(this.env, r, n, this.masterPort, this.opts.web ?? 0);
    const p = spawnRank(this.opts.cmd, this.opts.cwd, env, r, {
      log: (e) => this.emit('log', e),
      exit: (q, code, signal) => this.onExit(q, code, signal),
      closed: () => {
        if (this.procs.length === n && this.procs.every((q) => q.closed)) void this.finish();
      },
    });
    this.procs.push(p);
  }

  private onExit(p: RankProc, code: number | null, signal: NodeJS.Signals | null): void {
    if (!recordExit(p, code, signal)) return;
    const info = exitInfo(p);
    this.emit('rankExit', info);
    if ((p.code === 0 && !p.signal) || this.failed || this.stopping) return;
    this.failed = p;
    this.emit('failed', info);
    if (this.opts.failFast === false) return;
    const t = setTimeout(() => this.signalAll('SIGTERM', this.opts.graceMs ?? 5000), this.opts.failFastDelayMs ?? 5000);
    this.timers.push(t);
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
    const ranks = this.procs.map((p) => exitInfo(p));
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

  /** One join URL per web rank (ranks nprocs.. in order), each usable once; [] without `web`. */
  get webUrls(): string[] {
    return this.coord.web?.joinUrls() ?? [];
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
