// Intra-host collectives over shared-memory arenas. Every rank's buffers are mapped into the
// coordinator, so each collective is a single pass: one plan of copy/reduce steps read
// straight from the inputs and written straight into every output (no staging, no rounds).
//
// Cost model (P local ranks, S bytes per rank, B memory bandwidth):
//   allreduce: reads P·S, writes P·S → t ≈ 2·P·S / B   (busbw = 2(P-1)/P · S / t)
//   allgather: reads P·S, writes P²·S; broadcast: reads S, writes P·S.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"
#include "algo/plan.h"
#include "shm/layout.h"

namespace onet::local {

struct Part {  // one participant, indexed by group rank
  shm::Slot* slot;
  char* data;  // start of its data region
  size_t data_bytes;
  int rank;              // global rank, for messages
  uint32_t cma_pid = 0;  // slot flag cma: in_off/out_off are addresses in this process, not offsets
};

struct Matched {
  Coll coll;
  DType dt;
  RedOp op;
  int root;
  uint64_t count;
  double scale;
  uint64_t seq;
  std::vector<Part> parts;
  RemoteMap* remote = nullptr;  // where stand-ins for cma parts' buffers go (the plan's); null: none allowed
};

// Validate the byte ranges of every participant and build the plan. On EMISMATCH (v-variant
// counts that disagree) or EINVAL the message names the ranks and fields.
Status build_plan(const Matched& m, Plan* plan);

// Helpers shared by the collective files.
struct Range {
  uint64_t off, elems;
};
Status resolve(const Matched& m, int g, Range r, const char* what, char** out);
Status read_counts(const Matched& m, int g, uint64_t at, size_t n, std::vector<uint64_t>* out);
std::string who(const Matched& m, int g);  // "rank 3"
bool overlap(Range a, Range b, size_t es);

Status plan_reduce_family(const Matched& m, Plan* plan);    // reduce_family.cc
Status plan_gather_family(const Matched& m, Plan* plan);    // gather_family.cc
Status plan_alltoall_family(const Matched& m, Plan* plan);  // alltoall.cc

}  // namespace onet::local
