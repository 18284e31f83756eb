#include "algo/local/local.h"

#include <unistd.h>

#include <cstring>
#include <string>

namespace onet::local {

std::string who(const Matched& m, int g) { return "rank " + std::to_string(m.parts[g].rank); }

bool overlap(Range a, Range b, size_t es) {
  uint64_t a0 = a.off, a1 = a.off + a.elems * es, b0 = b.off, b1 = b.off + b.elems * es;
  return a.elems && b.elems && a0 < b1 && b0 < a1;
}

Status resolve(const Matched& m, int g, Range r, const char* what, char** out) {
  const Part& p = m.parts[g];
  size_t es = dtype_size(m.dt);
  std::string head = std::string(coll_name(m.coll)) + " #" + std::to_string(m.seq) + ": " + who(m, g) + " ";
  if (p.cma_pid) {  // single copy: r.off is an address in the rank's process
    if (!m.remote)
      return {Code::kInvalid,
              head + "posted a single-copy (cma) " + what + "; only single-host group collectives take one"};
    if (p.cma_pid == uint32_t(getpid()))  // never let a request name the coordinator's own memory
      return {Code::kInvalid, head + "named the coordinator's pid for its single-copy " + what};
    if (r.off % es || r.elems > (UINT64_MAX - r.off) / es)
      return {Code::kInvalid, head + what + " address " + std::to_string(r.off) + " is misaligned or its " +
                                  std::to_string(r.elems) + " elements wrap around"};
    *out = r.elems ? m.remote->add(p.cma_pid, r.off, r.elems * es, p.rank) : nullptr;
    if (r.elems && !*out) return {Code::kInvalid, head + what + " is too large for a single-copy transfer"};
    return Status::Ok();
  }
  if (r.off % es)
    return {Code::kInvalid, head + what + " offset " + std::to_string(r.off) +
                                " is not a multiple of the element size " + std::to_string(es)};
  // Overflow-safe: elems*es could wrap for a hostile count.
  if (r.elems > p.data_bytes / es || r.off > p.data_bytes || r.elems * es > p.data_bytes - r.off)
    return {Code::kInvalid, head + what + " of " + std::to_string(r.elems) + " " + dtype_name(m.dt) + " at offset " +
                                std::to_string(r.off) + " runs past its arena (" + std::to_string(p.data_bytes) +
                                " bytes): raise ONET_ARENA_BYTES or send less"};
  *out = p.data + r.off;
  return Status::Ok();
}

Status read_counts(const Matched& m, int g, uint64_t at, size_t n, std::vector<uint64_t>* out) {
  const Part& p = m.parts[g];
  if (at % 8 || at > p.data_bytes || n > (p.data_bytes - at) / 8)
    return {Code::kInvalid, std::string(coll_name(m.coll)) + " #" + std::to_string(m.seq) + ": " + who(m, g) +
                                " counts array at offset " + std::to_string(at) + " is misaligned or past its arena"};
  out->resize(n);
  memcpy(out->data(), p.data + at, n * 8);
  return Status::Ok();
}

Status build_plan(const Matched& m, Plan* plan) {
  plan->dt = m.dt;
  plan->op = m.op;
  plan->scale = m.scale;
  plan->divisor = int(m.parts.size());
  plan->steps.clear();
  switch (m.coll) {
    case Coll::allreduce:
    case Coll::reduce:
    case Coll::reduce_scatter:
    case Coll::reduce_scatterv: return plan_reduce_family(m, plan);
    case Coll::broadcast:
    case Coll::allgather:
    case Coll::allgatherv:
    case Coll::gather:
    case Coll::scatter: return plan_gather_family(m, plan);
    case Coll::alltoall:
    case Coll::alltoallv: return plan_alltoall_family(m, plan);
    case Coll::barrier: return Status::Ok();
    default:
      return {Code::kInvalid, std::string("collective ") + coll_name(m.coll) + " cannot be planned as a group op"};
  }
}

}  // namespace onet::local
