// Is a local process still the one we met? kill(pid, 0) alone says yes to a zombie (exited, not
// yet reaped by its parent) and to an unrelated process that was given the same pid later, so a
// peer would wait for a dead rank or coordinator until its timeout. A process is identified by
// (pid, start time): /proc/<pid>/stat field 22, in clock ticks since boot, which never changes
// for a process and differs for a process that reused the pid. State Z (zombie) or X (dead)
// counts as gone.
//
// The same rule in TypeScript is src/coordinator/liveness.ts and in Python
// opennetworks._client._proc_alive; keep the three in step.
#pragma once
#include <sys/types.h>

#include <cstdint>

namespace onet {

struct ProcId {
  pid_t pid = 0;
  uint64_t start = 0;  // /proc/<pid>/stat field 22; 0: unknown (identity not checked)
};

// The identity of `pid` now: start time 0 when the process is gone or /proc is unreadable
// (no /proc: only existence is checked later).
ProcId proc_identify(pid_t pid);

// True while `id.pid` exists, is not a zombie, and (when id.start != 0) started at id.start.
// A process of another user (EPERM) counts as alive when its identity cannot be read.
bool proc_alive(const ProcId& id);

// Start time of `pid` in seconds since the epoch (0 if unknown): boot time (/proc/stat btime)
// plus field 22 / CLK_TCK. For owners known only by pid and the time they made something (a
// shared-memory segment): a process that started after that was not its maker.
double proc_started_at(pid_t pid);

}  // namespace onet
