// Collectives whose group spans hosts: the hierarchical algorithm, the outer structure every
// inter-host algorithm runs inside (native/algo/hier/; the engine hands it a CrossJob on a lane).
// Local ranks are folded in shared memory first (one pass over their arenas), one participant per
// host (this coordinator) runs the inter-host algorithm from native/algo/ over
// the transport, and the result is copied into every local rank's output.
//   T = T_local_reduce(L·S) + T_inter(H hosts, S) + T_local_copy(L·S)
// Every call first exchanges a 56-byte header with the other hosts so that a mismatch (op,
// dtype, count, reduce op, root, algorithm rules) is an error on every rank of every host, never
// a hang; a small allreduce sends it together with its data (one round, "oneshot", oneshot.cc;
// the limit is the registry's, spec/algorithms.json). Files: run.cc (run_cross), agree.cc (the
// header round), inter.cc (the inter-host algorithm by size rule, dispatched through the registry),
// reduce.cc / move.cc (per collective), oneshot.cc, fuse.cc (fusion in the one-shot round), util.cc.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec/codec.h"
#include "common/status.h"
#include "common/types.h"
#include "shm/layout.h"
#include "transport/transport.h"

namespace onet {

struct CrossPart {  // one local member of the group
  shm::Slot* slot;
  char* data;  // its arena's data region
  size_t data_bytes;
  int rank;      // global rank
  int grank;     // rank in the group
  uint32_t idx;  // slot index
};

// Size-range algorithm choice (UCC style: data, overridable): the first entry whose coll
// matches and max_bytes >= the message size wins. Filled by the TS scheduler (src/scheduler/select.ts);
// until then the registry's defaultRules (spec/algorithms.json).
struct AlgoRule {
  Coll coll;
  uint64_t max_bytes;
  std::string algo;
  uint64_t chunk_bytes;
};

struct CrossJob {
  Coll coll;
  DType dt;
  RedOp op;
  int root = 0;  // group rank
  uint64_t count = 0;
  double scale = 1.0;
  uint64_t seq = 0;
  uint32_t group = 0;
  int P = 0;                                   // group size
  std::vector<CrossPart> local;                // in group-rank order
  std::vector<std::vector<int>> host_members;  // group ranks per participating host, host order
  std::vector<int> host_ids;                   // device index of each participating host
  net::Comm comm;                              // over participating hosts; comm.rank = this host
  std::vector<AlgoRule> rules;
  std::string chosen;                      // filled: "allreduce:ring" (for explain/trace)
  std::vector<std::vector<char>> scratch;  // staging; see stage() in util.cc
  // Fusion (algo/hier/fuse.cc): small allreduces queued right behind this one that this
  // host offers to run inside its exchange, and how many of them (a prefix) all hosts agreed on.
  std::vector<CrossJob*> fuse_offer;
  size_t fused = 0;
  // Compression inside the collective (docs/compression.md): the codec for this call's cross-host
  // allreduce (off unless ONET_COMPRESSION or the group chose one; every host must agree, checked in the
  // header), the error-feedback residual of its (group, key) or null, and the bytes it saved.
  codec::Spec codec;
  bool z_auto = false;     // ONET_COMPRESSION=auto: every host proposes, host 0's proposal is adopted (agree.cc)
  codec::Spec z_proposal;  // this host's proposal (auto only)
  std::string z_why;       // the proposal's reasoning, for explain
  std::shared_ptr<std::vector<float>> residual;
  uint64_t z_raw_bytes = 0, z_sent_bytes = 0;
};

// Whether `c` may ride in `lead`'s exchange: both allreduces on the one-shot path with equal
// dtype, op, scale and root, and `c`'s buffers inside its ranks' arenas (algo/hier/fuse.cc).
bool fusable(const CrossJob& lead, const CrossJob& c);
// Most collectives one exchange carries besides its lead (ranks have 64 slots in flight).
constexpr size_t kMaxFused = 63;

Status run_cross(CrossJob& j);

// Default rules when the scheduler has not sent any: the registry's defaultRules (spec/algorithms.json).
std::vector<AlgoRule> default_algo_rules();

}  // namespace onet
