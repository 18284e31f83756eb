// Double binary tree allreduce (NCCL): two complementary binary trees, each reducing then
// broadcasting half of the data, chunked so both trees and both phases stay in flight.
// ⌈log₂P⌉-deep trees: T ≈ 2⌈log₂P⌉α + 2·S·β·(1 + pipeline fill) + S·γ, i.e. latency
// logarithmic in P with ring-like bandwidth once S ≫ chunk_bytes. Every rank sends at
// most S bytes up and S down in total because a rank is interior in at most one tree.
#include "algo/steps.h"

namespace onet::algo {

Status allreduce_dbtree(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o) {
  const int P = c.size;
  if (P == 1 || count == 0) return Status::Ok();
  detail::TreeJob j;
  j.what = "dbtree allreduce";
  j.buf = static_cast<char*>(buf);
  j.dt = dt;
  j.op = op;
  j.reduce = j.bcast = true;
  const size_t half = count / 2;
  j.trees.push_back({detail::btree_parents(P, 0), 0, half, c.tag + 0, c.tag + 1});
  j.trees.push_back({detail::btree_parents(P, 1), half, count - half, c.tag + 2, c.tag + 3});
  return detail::tree_run(c, j, o);
}

}  // namespace onet::algo
