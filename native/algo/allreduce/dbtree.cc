// Double binary tree allreduce (NCCL): two complementary binary trees, each reducing then
// broadcasting half of the data, chunked (C = chunk_bytes) so both trees and both phases
// stay in flight. Trees of depth D = ⌊log₂P⌋: T ≈ (2D + ⌈S/C⌉ − 1)(α + 2C·β) + S·γ —
// latency logarithmic in P, and bandwidth close to ring's once S ≫ 2D·C (over both trees a
// rank sends and receives about 2S, like ring). Wins for mid-size S and for large P where ring's 2(P-1)α
// dominates. A rank is interior in at most one tree, so no rank carries both halves' fan-in.
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
