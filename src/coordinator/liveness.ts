// Is a local process still the one we met? `kill(pid, 0)` alone says yes to a zombie (exited,
// not yet reaped by its parent) and to an unrelated process that was given the same pid later,
// so the other ranks would wait for a dead rank until ONET_TIMEOUT. A process is identified by
// (pid, start time): /proc/<pid>/stat field 22, clock ticks since boot, fixed for a process's
// life and different for a process that reused the pid. State Z (zombie) or X (dead) is gone.
// The same rule: native/common/proc_alive.cc (C++), opennetworks._client._proc_alive (Python).
import { readFileSync, statSync } from 'node:fs';

export interface ProcId {
  pid: number;
  /** /proc/<pid>/stat field 22; 0: unknown (only existence and state are checked). */
  start: number;
}

/** State letter and start time, or undefined when /proc/<pid>/stat cannot be read. */
function readStat(pid: number): { state: string; start: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and ')': fields 3.. start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = Number(rest[22 - 3]);
  return rest.length > 19 && Number.isFinite(start) ? { state: rest[0], start } : undefined;
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: any) {
    return e.code === 'EPERM';
  }
}

/** The identity of `pid` now (start 0 when it is gone, a zombie, or /proc is unreadable). */
export function identify(pid: number): ProcId {
  const s = pid > 0 ? readStat(pid) : undefined;
  return { pid, start: s && s.state !== 'Z' && s.state !== 'X' ? s.start : 0 };
}

/** True while `id.pid` runs, is not a zombie, and (when id.start ≠ 0) is the process that started then. */
export function alive(id: ProcId): boolean {
  if (!(id.pid > 0)) return false;
  const s = readStat(id.pid);
  if (!s) return exists(id.pid); // no /proc: existence only
  if (s.state === 'Z' || s.state === 'X') return false;
  return id.start === 0 || s.start === id.start;
}

let bootMs: number | undefined;
/** Start of `pid` in ms since the epoch (0 when unknown): /proc/stat btime + field 22 / CLK_TCK (100 on Linux). */
export function startedAtMs(pid: number): number {
  const s = pid > 0 ? readStat(pid) : undefined;
  if (!s) return 0;
  if (bootMs === undefined) {
    try {
      bootMs = 1000 * Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'))?.[1] ?? 0);
    } catch {
      bootMs = 0;
    }
  }
  return bootMs ? bootMs + s.start * 10 : 0;
}

/**
 * Is the process named by a pid file alive and its writer? A process that started after the file
 * was written reused the pid (1 s of slack for the clocks' rounding).
 */
export function pidFileAlive(pid: number, file: string): boolean {
  if (!alive({ pid, start: 0 })) return false;
  let written = 0;
  try {
    written = statSync(file).mtimeMs;
  } catch {
    return true;
  }
  const started = startedAtMs(pid);
  return !started || started <= written + 1000;
}
