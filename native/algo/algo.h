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

#include "common/status.h"
#include "common/types.h"
#include "transport/transport.h"

namespace onet::algo {

struct Options {
  size_t chunk_bytes = 1u << 20;  // pipelining unit for ring/chain algorithms
};

// allreduce: buf in, result in place on every participant.
Status allreduce_ring(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o);
Status allreduce_dbtree(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o);
Status allreduce_rabenseifner(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o);

// allgatherv: every participant contributes counts[rank] elements at out + displs[rank]
// (already in place); afterwards out holds every block. allgather = equal counts.
Status allgather_ring(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs, DType dt, const Options& o);
Status allgather_recdoubling(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs, DType dt, const Options& o);
Status allgather_bruck(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs, DType dt, const Options& o);

// broadcast: root's buf to everyone.
Status broadcast_binomial(net::Comm& c, void* buf, size_t bytes, int root, const Options& o);
Status broadcast_chain(net::Comm& c, void* buf, size_t bytes, int root, const Options& o);

// reduce_scatterv: buf holds the full vector (sum of counts) on every participant and is
// used as scratch; afterwards buf + displs[rank] holds the reduced block `rank`.
Status reduce_scatter_ring(net::Comm& c, void* buf, const std::vector<size_t>& counts, const std::vector<size_t>& displs, DType dt, RedOp op, const Options& o);
Status reduce_scatter_rechalving(net::Comm& c, void* buf, const std::vector<size_t>& counts, const std::vector<size_t>& displs, DType dt, RedOp op, const Options& o);

// reduce to root (in place at root; buf is scratch elsewhere).
Status reduce_binomial(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, int root, const Options& o);

// alltoallv: send block j (sbytes[j] at send + sdispl[j]) to participant j; receive block i
// into recv + rdispl[i] (rbytes[i]).
Status alltoall_pairwise(net::Comm& c, const void* send, const std::vector<size_t>& sbytes, const std::vector<size_t>& sdispl,
                         void* recv, const std::vector<size_t>& rbytes, const std::vector<size_t>& rdispl, const Options& o);

Status barrier_dissemination(net::Comm& c, const Options& o);

// Name → function table for the scheduler's choice (ONET_ALGO) and for tests that run every
// algorithm, not only the one the selector picks.
std::vector<std::string> names(Coll coll);  // e.g. names(Coll::allreduce) = {"ring","dbtree","rabenseifner"}

}  // namespace onet::algo
