// Single-copy transfers (slot flag cma, docs/performance.md "Single-copy transfers"): a chunk of a
// plan step that reads or writes another process's memory (algo/local/remote.h) moves it with
// process_vm_readv / process_vm_writev through per-thread scratch, so each byte of an ordinary
// tensor is copied once on its way in and once on its way out, never through the rank's arena.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "algo/plan.h"
#include "common/proc_alive.h"
#include "common/status.h"

namespace onet::cma {

// May a single-copy post of `rank` name process `claimed`? Only when it is the process that registered
// as that rank (`registered`, docs/protocol.md §2), still running since then (same start time), and
// mapping the rank's arena (`arena`, its shm name: proof that the pid in the register message was the
// rank's own, not one it merely knew; looked up in /proc/<pid>/maps once, then *arena_seen is set).
// The coordinator may read and write every process of its user, so a slot naming any other pid would
// let a rank read or overwrite that process's memory. EINVAL naming the rank and both pids otherwise;
// `label` heads the message ("allreduce #7").
Status check_pid(const ProcId& registered, uint32_t claimed, int rank, const std::string& label,
                 const std::string& arena, bool* arena_seen);

// Run elements [begin, end) of step s of plan, whose pointers may be stand-ins of plan.remote.
Status run_chunk(const Plan& plan, const Step& s, size_t begin, size_t end);

}  // namespace onet::cma
