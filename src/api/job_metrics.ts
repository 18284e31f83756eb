// What a launched job is doing, for `job.on('metrics', …)`: the coordinator's answer to a
// `status` control message (docs/protocol.md §2) joined with what the launcher knows of each
// rank's process (running or exited, and its memory and CPU from /proc on Linux).
import { readFileSync } from 'node:fs';

/** One collective some ranks have posted and others have not (the coordinator's `status.pending`). */
export interface PendingOp {
  /** Group id (0 = the world). */
  group: number;
  /** Sequence number of the collective in its group, from 1. */
  seq: number;
  /** How long the first rank has waited, in milliseconds. */
  ageMs: number;
  /** Ranks that posted it. */
  arrived: number[];
  /** Ranks it waits for. */
  missing: number[];
}

/**
 * A rank's state as the launcher and the coordinator see it:
 * `starting` (running, not registered yet), `live` (registered), `closed` (closed its
 * communicator, still running), `dead` (the coordinator saw its process die), `exited`
 * (the launcher saw its process exit).
 */
export type RankState = 'starting' | 'live' | 'closed' | 'dead' | 'exited';

/** Per-rank numbers in a {@link JobMetrics} sample. */
export interface RankMetrics {
  rank: number;
  /** Process id of the rank's command (undefined if it could not be started). */
  pid?: number;
  state: RankState;
  /** Framework the rank registered with (`node`, `torch`, `numpy`, ...), once registered. */
  framework?: string;
  /** Collectives this rank has posted that still wait for other ranks. */
  pendingOps: number;
  /** Collectives other ranks have posted that wait for this rank. */
  blockingOps: number;
  /** Collectives this rank has completed, when the coordinator reports it (else undefined). */
  completed?: number;
  /** Resident memory of the rank's process in bytes (Linux, while it runs). */
  rssBytes?: number;
  /** User + system CPU time of the rank's process in seconds (Linux, while it runs). */
  cpuSeconds?: number;
  /** Exit code once it exited (null when a signal ended it). */
  exitCode?: number | null;
  /** Signal that ended it, if any. */
  signal?: NodeJS.Signals | null;
}

/** One sample of a launched job's state, emitted as `job.on('metrics', m => …)`. */
export interface JobMetrics {
  job: string;
  /** Wall-clock time of the sample (ms since the epoch). */
  time: number;
  /** Milliseconds since the job was launched. */
  elapsedMs: number;
  world: number;
  ranks: RankMetrics[];
  /** Collectives waiting for some ranks, oldest first. */
  pending: PendingOp[];
  /** Age of the oldest pending collective in ms (0 when none waits): a stall shows here first. */
  oldestPendingMs: number;
  /** The coordinator's telemetry snapshot, when it exposes one (passed through as is). */
  telemetry?: unknown;
  /** Why the coordinator's part is missing from this sample (it did not answer in time). */
  error?: string;
}

/** What the launcher knows of one rank's process. */
export interface RankProcess {
  rank: number;
  pid?: number;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Memory and CPU of a live process from /proc (Linux); empty elsewhere or once it is gone. */
export function procStats(pid: number | undefined): { rssBytes?: number; cpuSeconds?: number } {
  if (!pid || process.platform !== 'linux') return {};
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15,
    // in USER_HZ ticks, which Linux fixes at 100 for user space.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return {
      rssBytes: rss ? Number(rss[1]) * 1024 : undefined,
      cpuSeconds: Number.isFinite(ticks) ? ticks / 100 : undefined,
    };
  } catch {
    return {};
  }
}

/** Join a `status` reply (or its absence) with the launcher's view of the ranks. */
export function buildMetrics(
  job: string,
  world: number,
  startedAt: number,
  procs: RankProcess[],
  status: Record<string, any> | undefined,
  telemetry: unknown,
  error?: string,
): JobMetrics {
  const pending: PendingOp[] = Array.isArray(status?.pending)
    ? [...status!.pending].sort((a, b) => b.ageMs - a.ageMs)
    : [];
  const reg = new Map<number, Record<string, any>>();
  for (const r of Array.isArray(status?.ranks) ? status!.ranks : []) reg.set(r.rank, r);
  // Engine telemetry (native/engine/stats.h), when the coordinator includes it in `status`:
  // a rank's last completed world collective has sequence number = how many it completed.
  const done = new Map<number, number>();
  for (const r of Array.isArray(status?.stats?.ranks) ? status!.stats.ranks : [])
    if (r.lastGroup === 0 && typeof r.lastSeq === 'number') done.set(r.rank, r.lastSeq);
  const ranks = procs.map((p): RankMetrics => {
    const c = reg.get(p.rank);
    const state: RankState = p.exited ? 'exited' : c ? (c.state as RankState) : 'starting';
    const completed = typeof c?.completed === 'number' ? c.completed : done.get(p.rank);
    return {
      rank: p.rank,
      pid: p.pid,
      state,
      framework: c?.framework,
      pendingOps: pending.filter((o) => o.arrived.includes(p.rank)).length,
      blockingOps: pending.filter((o) => o.missing.includes(p.rank)).length,
      ...(completed !== undefined ? { completed } : {}),
      ...(p.exited ? { exitCode: p.code, signal: p.signal } : procStats(p.pid)),
    };
  });
  const now = Date.now();
  return {
    job,
    time: now,
    elapsedMs: now - startedAt,
    world,
    ranks,
    pending,
    oldestPendingMs: pending.length ? pending[0].ageMs : 0,
    ...(telemetry !== undefined ? { telemetry } : {}),
    ...(error ? { error } : {}),
  };
}
