// Hierarchical execution of one collective across hosts; see crosshost.h for the shape.
// Local data is always folded into engine-owned staging first, so in-place calls (input ==
// output, or overlapping reduce_scatter blocks) need no special cases.
#include "engine/crosshost.h"

#include <algorithm>
#include <cstring>
#include <sstream>


#include "engine/crosshost_internal.h"

namespace onet {

using namespace cross;

std::vector<AlgoRule> default_algo_rules() {
  const uint64_t kMax = UINT64_MAX;
  return {
      {Coll::allreduce, 64u << 10, "rabenseifner", 0},
      {Coll::allreduce, kMax, "ring", 1u << 20},
      {Coll::allgather, 64u << 10, "bruck", 0},
      {Coll::allgather, kMax, "ring", 1u << 20},
      {Coll::broadcast, 64u << 10, "binomial", 0},
      {Coll::broadcast, kMax, "chain", 1u << 20},
      {Coll::reduce_scatter, 64u << 10, "rechalving", 0},
      {Coll::reduce_scatter, kMax, "ring", 1u << 20},
  };
}

Status run_cross(CrossJob& j) {
  std::vector<uint64_t> rc;
  Status local = rank_counts(j, &rc);
  if (local.ok()) local = check_local(j);
  Status st;
  bool vvar = j.coll == Coll::allgatherv || j.coll == Coll::reduce_scatterv || j.coll == Coll::alltoallv;
  Hdr h{uint32_t(j.coll), uint32_t(j.dt), uint32_t(j.op), j.root, vvar ? 0 : j.count, j.seq, j.scale,
        j.coll == Coll::alltoallv ? 0 : fnv(rc), hash_rules(j.rules)};
  if (j.coll == Coll::barrier) h.dtype = h.redop = 0, h.count = 0, h.counts_hash = 0, h.scale = 0;
  if (j.coll != Coll::allreduce && j.coll != Coll::reduce && j.coll != Coll::reduce_scatter && j.coll != Coll::reduce_scatterv)
    h.redop = 0, h.scale = 0;
  h.bad = local.ok() ? 0 : uint32_t(local.code);
  if (!local.ok()) {
    agree(j, h);  // tell the other hosts, so that they fail now rather than at their deadline
    st = local;
  } else if (oneshot(j)) {
    st = run_allreduce_oneshot(j, h);
  } else if ((st = agree(j, h)).ok()) {
    switch (j.coll) {
      case Coll::allreduce: st = run_allreduce(j); break;
      case Coll::reduce: st = run_reduce(j); break;
      case Coll::broadcast: st = run_broadcast(j); break;
      case Coll::allgather:
      case Coll::allgatherv: st = run_allgather(j); break;
      case Coll::reduce_scatter:
      case Coll::reduce_scatterv: st = run_reduce_scatter(j); break;
      case Coll::barrier: st = run_barrier(j); break;
      case Coll::gather:
      case Coll::scatter: st = run_gather_scatter(j); break;
      case Coll::alltoall:
      case Coll::alltoallv: st = run_alltoall(j); break;
      default:
        st = {Code::kUnsupported, label(j) + ": " + coll_name(j.coll) +
                                      " across hosts is not supported yet; keep these ranks on one host or use allgather/broadcast instead"};
    }
  }
  if (st.ok()) recycle(j);
  // Every error starts with the collective ("allreduce #7: ring allreduce step 0: checksum ..."),
  // except the agreement check's "#7: ranks 0 (host 0) called allreduce, ..." which names it.
  if (!st.ok() && st.msg.rfind(label(j), 0) != 0 && st.msg.rfind("#" + std::to_string(j.seq) + ":", 0) != 0)
    st.msg = label(j) + ": " + st.msg;
  return st;
}

}  // namespace onet
