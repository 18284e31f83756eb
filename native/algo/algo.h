// The inter-host algorithm catalogue. Each algorithm lives in native/algo/<collective>/<name>.cc,
// opens with its cost model, and is written against net::Comm / net::Pair only.
// Buffers are host memory; counts are elements of `dt`. `op` is never avg or premul_sum here:
// the caller reduces avg as sum and divides once at the end, and pre-multiplies premul_sum
// locally (so every algorithm reduces with a plain associative op).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/gen/algorithms.h"
#include "common/status.h"
#include "common/types.h"
#include "transport/transport.h"

namespace onet::algo {

struct Options {
  size_t chunk_bytes = 1u << 20;  // pipelining unit for ring/chain/tree algorithms
  int inflight = 4;               // receives posted ahead per pipeline (chunks in flight)
};

// Failure: the first transport error is returned with where it happened ("ring allreduce
// step 3: ..."). Requests may then still be pending on the backend, so the caller must close
// the device (which fails them) before it frees or reuses the buffers it passed; an
// algorithm's own scratch memory is deliberately leaked on failure for the same reason.
// Results are bitwise identical on every participant and deterministic for a given
// (algorithm, participants, count): chunk_bytes and inflight never change the bits.
//
// Every algorithm uses tags in [c.tag, c.tag + kTagSpan): callers give concurrent
// collectives c.tag values at least kTagSpan apart so their messages never mix.
constexpr uint64_t kTagSpan = 64;

// allreduce: buf in, result in place on every participant.
Status allreduce_ring(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o);
Status allreduce_dbtree(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o);
Status allreduce_rabenseifner(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o);

// allgatherv: every participant contributes counts[rank] elements at out + displs[rank]
// (already in place); afterwards out holds every block. allgather = equal counts.
Status allgather_ring(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs,
                      DType dt, const Options& o);
Status allgather_recdoubling(net::Comm& c, void* out, const std::vector<size_t>& counts,
                             const std::vector<size_t>& displs, DType dt, const Options& o);
Status allgather_bruck(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs,
                       DType dt, const Options& o);

// broadcast: root's buf to everyone.
Status broadcast_binomial(net::Comm& c, void* buf, size_t bytes, int root, const Options& o);
Status broadcast_chain(net::Comm& c, void* buf, size_t bytes, int root, const Options& o);

// reduce_scatterv: buf holds the full vector (sum of counts) on every participant and is
// used as scratch; afterwards buf + displs[rank] holds the reduced block `rank`.
Status reduce_scatter_ring(net::Comm& c, void* buf, const std::vector<size_t>& counts,
                           const std::vector<size_t>& displs, DType dt, RedOp op, const Options& o);
Status reduce_scatter_rechalving(net::Comm& c, void* buf, const std::vector<size_t>& counts,
                                 const std::vector<size_t>& displs, DType dt, RedOp op, const Options& o);

// reduce to root (in place at root; buf is scratch elsewhere).
Status reduce_binomial(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, int root, const Options& o);

// alltoallv: send block j (sbytes[j] at send + sdispl[j]) to participant j; receive block i
// into recv + rdispl[i] (rbytes[i]).
Status alltoall_pairwise(net::Comm& c, const void* send, const std::vector<size_t>& sbytes,
                         const std::vector<size_t>& sdispl, void* recv, const std::vector<size_t>& rbytes,
                         const std::vector<size_t>& rdispl, const Options& o);

Status barrier_dissemination(net::Comm& c, const Options& o);

// The registry (spec/algorithms.json → common/gen/algorithms.h) by name, for the scheduler's choice
// (ONET_ALGO) and for tests that run every algorithm, not only the one the selector picks.
// v-variants share their collective's algorithms (allgatherv runs allgather's).
// names(): the inter-host ones, e.g. names(Coll::allreduce) = {"ring", "dbtree", "rabenseifner"}.
std::vector<std::string> names(Coll coll);
const AlgoInfo* find(Coll coll, const std::string& name);  // any kind; nullptr when the registry has none

// One collective call for the by-name dispatcher. Which fields matter depends on `coll`:
//  allreduce/reduce: buf, count, dt, op (+ root);  broadcast: buf, count (BYTES), root;
//  allgather(v)/reduce_scatter(v): buf, counts, displs, dt (+ op);
//  alltoall(v): send, counts/displs (send bytes), buf, rcounts/rdispls (receive bytes);
//  barrier: nothing. allgather and allgatherv (etc.) run the same algorithms.
struct Call {
  Coll coll = Coll::allreduce;
  void* buf = nullptr;
  const void* send = nullptr;
  size_t count = 0;
  std::vector<size_t> counts, displs, rcounts, rdispls;
  DType dt = DType::u8;
  RedOp op = RedOp::sum;
  int root = 0;
};

// Runs algorithm `algo` (one of names(call.coll)) for `call`. Checks the call first: an
// unknown name, a vector of the wrong length, avg/premul_sum or a bad root is kInvalid with
// the valid choices in the message.
Status run(const std::string& algo, net::Comm& c, const Call& call, const Options& o);
// The same, for an algorithm already looked up (find()); still checks the call.
Status run(const AlgoInfo& algo, net::Comm& c, const Call& call, const Options& o);

}  // namespace onet::algo
