// Hierarchical execution of one collective across hosts; see hier.h for the shape.
//   T = T_local_fold(L·S) + T_header_round (or none: one-shot) + T_inter(H, S) + T_local_copy(L·S)
// Local data is always folded into engine-owned staging first, so in-place calls (input ==
// output, or overlapping reduce_scatter blocks) need no special cases.
#include "algo/hier/hier.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "algo/hier/internal.h"

namespace onet {

using namespace cross;

std::vector<AlgoRule> default_algo_rules() {
  std::vector<AlgoRule> out;
  for (const algo::DefaultRule& r : algo::kDefaultRules) out.push_back({r.coll, r.max_bytes, r.algo, r.chunk_bytes});
  return out;
}

Status run_cross(CrossJob& j) {
  std::vector<uint64_t> rc;
  Status local = rank_counts(j, &rc);
  if (local.ok()) local = check_local(j);
  Status st;
  bool vvar = j.coll == Coll::allgatherv || j.coll == Coll::reduce_scatterv || j.coll == Coll::alltoallv;
  Hdr h{uint32_t(j.coll),   uint32_t(j.dt), uint32_t(j.op), j.root,
        vvar ? 0 : j.count, j.seq,          j.scale,        j.coll == Coll::alltoallv ? 0 : fnv(rc),
        hash_rules(j.rules)};
  if (j.coll == Coll::barrier) h.dtype = h.redop = 0, h.count = 0, h.counts_hash = 0, h.scale = 0;
  if (j.coll != Coll::allreduce && j.coll != Coll::reduce && j.coll != Coll::reduce_scatter &&
      j.coll != Coll::reduce_scatterv)
    h.redop = 0, h.scale = 0;
  // Hosts must compress alike; with auto (bit 31) each sends its proposal and host 0's is adopted (agree.cc).
  h.reserved = j.coll != Coll::allreduce ? 0
               : j.z_auto                ? 0x80000000u | codec::fingerprint(j.z_proposal)
                                         : codec::fingerprint(j.codec);
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
        st = {
            Code::kUnsupported,
            label(j) + ": " + coll_name(j.coll) +
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
