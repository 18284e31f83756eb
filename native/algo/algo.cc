// The catalogue by name: names() for the selector and tests, run() for the engine. run()
// validates a call once, before any message moves, so every participant fails the same way.
#include <algorithm>

#include "algo/algo.h"

namespace onet::algo {

std::vector<std::string> names(Coll coll) {
  switch (coll) {
    case Coll::allreduce: return {"ring", "dbtree", "rabenseifner"};
    case Coll::allgather: case Coll::allgatherv: return {"ring", "recdoubling", "bruck"};
    case Coll::broadcast: return {"binomial", "chain"};
    case Coll::reduce_scatter: case Coll::reduce_scatterv: return {"ring", "rechalving"};
    case Coll::reduce: return {"binomial"};
    case Coll::alltoall: case Coll::alltoallv: return {"pairwise"};
    case Coll::barrier: return {"dissemination"};
    default: return {};
  }
}

namespace {

Status invalid(const Call& call, const std::string& why) {
  return {Code::kInvalid, std::string(coll_name(call.coll)) + ": " + why};
}

Status check_vec(const Call& call, const std::vector<size_t>& v, const char* name, int P) {
  if (int(v.size()) != P) {
    return invalid(call, std::string(name) + " has " + std::to_string(v.size()) + " entries; pass one per participant (" +
                             std::to_string(P) + ")");
  }
  return Status::Ok();
}

Status check(const std::string& algo, const net::Comm& c, const Call& call) {
  const int P = c.size;
  if (P < 1 || c.rank < 0 || c.rank >= P || int(c.pairs.size()) != P) {
    return invalid(call, "comm has rank " + std::to_string(c.rank) + " of " + std::to_string(P) + " with " +
                             std::to_string(c.pairs.size()) + " pairs");
  }
  const auto valid = names(call.coll);
  if (std::find(valid.begin(), valid.end(), algo) == valid.end()) {
    std::string list;
    for (const auto& n : valid) list += (list.empty() ? "" : ", ") + n;
    return invalid(call, "no algorithm named '" + algo + "'; choose one of: " + (list.empty() ? "(none)" : list));
  }
  if (!dtype_valid(uint32_t(call.dt))) return invalid(call, "dtype " + std::to_string(uint32_t(call.dt)) + " is not valid");
  const bool reduces = call.coll == Coll::allreduce || call.coll == Coll::reduce || call.coll == Coll::reduce_scatter ||
                       call.coll == Coll::reduce_scatterv;
  if (reduces) {
    if (call.op == RedOp::avg || call.op == RedOp::premul_sum) {
      return invalid(call, std::string(redop_name(call.op)) +
                               " reaches the algorithms as sum: divide or pre-multiply locally first");
    }
    if (uint32_t(call.op) >= kNumRedOps) return invalid(call, "reduce op " + std::to_string(uint32_t(call.op)) + " is not valid");
    if (dtype_is_float(call.dt) && (call.op == RedOp::band || call.op == RedOp::bor || call.op == RedOp::bxor)) {
      return {Code::kUnsupported, std::string(coll_name(call.coll)) + ": " + redop_name(call.op) + " is for integer dtypes, not " +
                                      dtype_name(call.dt)};
    }
  }
  if ((call.coll == Coll::reduce || call.coll == Coll::broadcast) && (call.root < 0 || call.root >= P)) {
    return invalid(call, "root " + std::to_string(call.root) + " is not in [0, " + std::to_string(P) + ")");
  }
  Status s;
  switch (call.coll) {
    case Coll::allgather: case Coll::allgatherv: case Coll::reduce_scatter: case Coll::reduce_scatterv:
      s = check_vec(call, call.counts, "counts", P);
      if (s.ok()) s = check_vec(call, call.displs, "displs", P);
      break;
    case Coll::alltoall: case Coll::alltoallv:
      s = check_vec(call, call.counts, "counts (send bytes)", P);
      if (s.ok()) s = check_vec(call, call.displs, "displs (send offsets)", P);
      if (s.ok()) s = check_vec(call, call.rcounts, "rcounts (receive bytes)", P);
      if (s.ok()) s = check_vec(call, call.rdispls, "rdispls (receive offsets)", P);
      break;
    default: break;
  }
  return s;
}

}  // namespace

Status run(const std::string& algo, net::Comm& c, const Call& call, const Options& o) {
  Status s = check(algo, c, call);
  if (!s.ok()) return s;
  if (o.chunk_bytes == 0 || o.inflight < 1) {
    return invalid(call, "Options need chunk_bytes > 0 and inflight >= 1 (got " + std::to_string(o.chunk_bytes) + ", " +
                             std::to_string(o.inflight) + ")");
  }
  switch (call.coll) {
    case Coll::allreduce:
      if (algo == "ring") return allreduce_ring(c, call.buf, call.count, call.dt, call.op, o);
      if (algo == "dbtree") return allreduce_dbtree(c, call.buf, call.count, call.dt, call.op, o);
      return allreduce_rabenseifner(c, call.buf, call.count, call.dt, call.op, o);
    case Coll::allgather: case Coll::allgatherv:
      if (algo == "ring") return allgather_ring(c, call.buf, call.counts, call.displs, call.dt, o);
      if (algo == "recdoubling") return allgather_recdoubling(c, call.buf, call.counts, call.displs, call.dt, o);
      return allgather_bruck(c, call.buf, call.counts, call.displs, call.dt, o);
    case Coll::broadcast:
      if (algo == "binomial") return broadcast_binomial(c, call.buf, call.count, call.root, o);
      return broadcast_chain(c, call.buf, call.count, call.root, o);
    case Coll::reduce_scatter: case Coll::reduce_scatterv:
      if (algo == "ring") return reduce_scatter_ring(c, call.buf, call.counts, call.displs, call.dt, call.op, o);
      return reduce_scatter_rechalving(c, call.buf, call.counts, call.displs, call.dt, call.op, o);
    case Coll::reduce:
      return reduce_binomial(c, call.buf, call.count, call.dt, call.op, call.root, o);
    case Coll::alltoall: case Coll::alltoallv:
      return alltoall_pairwise(c, call.send, call.counts, call.displs, call.buf, call.rcounts, call.rdispls, o);
    case Coll::barrier:
      return barrier_dissemination(c, o);
    default:
      return invalid(call, "has no inter-host algorithm");
  }
}

}  // namespace onet::algo
