// Single-copy transfers (slot flag cma, docs/performance.md "Single-copy transfers"): a chunk of a
// plan step that reads or writes another process's memory (algo/local/remote.h) moves it with
// process_vm_readv / process_vm_writev through per-thread scratch, so each byte of an ordinary
// tensor is copied once on its way in and once on its way out, never through the rank's arena.
#pragma once
#include <cstddef>

#include "algo/plan.h"
#include "common/status.h"

namespace onet::cma {

// Run elements [begin, end) of step s of plan, whose pointers may be stand-ins of plan.remote.
Status run_chunk(const Plan& plan, const Step& s, size_t begin, size_t end);

}  // namespace onet::cma
