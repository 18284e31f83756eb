// The catalogue by name, from the registry (spec/algorithms.json): names() for the selector and
// tests, run() for the engine. run() validates a call once, before any message moves, so every
// participant fails the same way, then dispatches by the registry's id.
#include <algorithm>

#include "algo/algo.h"

namespace onet::algo {

namespace {

// The registry lists each collective once; its v-variant runs the same algorithms.
Coll base_coll(Coll c) {
  switch (c) {
    case Coll::allgatherv: return Coll::allgather;
    case Coll::reduce_scatterv: return Coll::reduce_scatter;
    case Coll::alltoallv: return Coll::alltoall;
    default: return c;
  }
}

}  // namespace

std::vector<std::string> names(Coll coll) {
  std::vector<std::string> out;
  for (const AlgoInfo& a : kAlgorithms)
    if (a.coll == base_coll(coll) && a.kind == AlgoKind::kInter) out.push_back(a.name);
  return out;
}

const AlgoInfo* find(Coll coll, const std::string& name) {
  for (const AlgoInfo& a : kAlgorithms)
    if (a.coll == base_coll(coll) && name == a.name) return &a;
  return nullptr;
}

namespace {

Status invalid(const Call& call, const std::string& why) {
  return {Code::kInvalid, std::string(coll_name(call.coll)) + ": " + why};
}

Status check_vec(const Call& call, const std::vector<size_t>& v, const char* name, int P) {
  if (int(v.size()) != P) {
    return invalid(call, std::string(name) + " has " + std::to_string(v.size()) +
                             " entries; pass one per participant (" + std::to_string(P) + ")");
  }
  return Status::Ok();
}

Status check(const net::Comm& c, const Call& call) {
  const int P = c.size;
  if (P < 1 || c.rank < 0 || c.rank >= P || int(c.pairs.size()) != P) {
    return invalid(call, "comm has rank " + std::to_string(c.rank) + " of " + std::to_string(P) + " with " +
                             std::to_string(c.pairs.size()) + " pairs");
  }
  if (!dtype_valid(uint32_t(call.dt)))
    return invalid(call, "dtype " + std::to_string(uint32_t(call.dt)) + " is not valid");
  const bool reduces = call.coll == Coll::allreduce || call.coll == Coll::reduce || call.coll == Coll::reduce_scatter ||
                       call.coll == Coll::reduce_scatterv;
  if (reduces) {
    if (call.op == RedOp::avg || call.op == RedOp::premul_sum) {
      return invalid(call, std::string(redop_name(call.op)) +
                               " reaches the algorithms as sum: divide or pre-multiply locally first");
    }
    if (uint32_t(call.op) >= kNumRedOps)
      return invalid(call, "reduce op " + std::to_string(uint32_t(call.op)) + " is not valid");
    if (dtype_is_float(call.dt) && (call.op == RedOp::band || call.op == RedOp::bor || call.op == RedOp::bxor)) {
      return {Code::kUnsupported, std::string(coll_name(call.coll)) + ": " + redop_name(call.op) +
                                      " is for integer dtypes, not " + dtype_name(call.dt)};
    }
  }
  if ((call.coll == Coll::reduce || call.coll == Coll::broadcast) && (call.root < 0 || call.root >= P)) {
    return invalid(call, "root " + std::to_string(call.root) + " is not in [0, " + std::to_string(P) + ")");
  }
  Status s;
  switch (call.coll) {
    case Coll::allgather:
    case Coll::allgatherv:
    case Coll::reduce_scatter:
    case Coll::reduce_scatterv:
      s = check_vec(call, call.counts, "counts", P);
      if (s.ok()) s = check_vec(call, call.displs, "displs", P);
      break;
    case Coll::alltoall:
    case Coll::alltoallv:
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
  const AlgoInfo* a = find(call.coll, algo);
  if (!a || a->kind != AlgoKind::kInter) {
    std::string list;
    for (const auto& n : names(call.coll)) list += (list.empty() ? "" : ", ") + n;
    return invalid(call, "no algorithm named '" + algo + "'; choose one of: " + (list.empty() ? "(none)" : list));
  }
  return run(*a, c, call, o);
}

Status run(const AlgoInfo& algo, net::Comm& c, const Call& call, const Options& o) {
  if (algo.coll != base_coll(call.coll) || algo.kind != AlgoKind::kInter)
    return invalid(call, std::string("'") + algo.name + "' is not an inter-host algorithm of this collective");
  Status s = check(c, call);
  if (!s.ok()) return s;
  if (o.chunk_bytes == 0 || o.inflight < 1) {
    return invalid(call, "Options need chunk_bytes > 0 and inflight >= 1 (got " + std::to_string(o.chunk_bytes) + ", " +
                             std::to_string(o.inflight) + ")");
  }
  switch (algo.id) {
    case AlgoId::allreduce_ring: return allreduce_ring(c, call.buf, call.count, call.dt, call.op, o);
    case AlgoId::allreduce_dbtree: return allreduce_dbtree(c, call.buf, call.count, call.dt, call.op, o);
    case AlgoId::allreduce_rabenseifner: return allreduce_rabenseifner(c, call.buf, call.count, call.dt, call.op, o);
    case AlgoId::allgather_ring: return allgather_ring(c, call.buf, call.counts, call.displs, call.dt, o);
    case AlgoId::allgather_recdoubling: return allgather_recdoubling(c, call.buf, call.counts, call.displs, call.dt, o);
    case AlgoId::allgather_bruck: return allgather_bruck(c, call.buf, call.counts, call.displs, call.dt, o);
    case AlgoId::broadcast_binomial: return broadcast_binomial(c, call.buf, call.count, call.root, o);
    case AlgoId::broadcast_chain: return broadcast_chain(c, call.buf, call.count, call.root, o);
    case AlgoId::reduce_scatter_ring:
      return reduce_scatter_ring(c, call.buf, call.counts, call.displs, call.dt, call.op, o);
    case AlgoId::reduce_scatter_rechalving:
      return reduce_scatter_rechalving(c, call.buf, call.counts, call.displs, call.dt, call.op, o);
    case AlgoId::reduce_binomial: return reduce_binomial(c, call.buf, call.count, call.dt, call.op, call.root, o);
    case AlgoId::alltoall_pairwise:
      return alltoall_pairwise(c, call.send, call.counts, call.displs, call.buf, call.rcounts, call.rdispls, o);
    case AlgoId::barrier_dissemination: return barrier_dissemination(c, o);
    case AlgoId::allreduce_oneshot: break;  // an engine path (algo/hier/oneshot.cc), kind kEngine
  }
  return invalid(call, std::string("'") + algo.name + "' has no inter-host implementation");
}

}  // namespace onet::algo
