// Binomial-tree reduce to root. ⌈log₂P⌉ rounds; the root receives from ⌈log₂P⌉ children:
// T = ⌈log₂P⌉(α + S·β + S·γ) unpipelined; chunked, so a rank reduces chunk k while its
// children still send chunk k+1 (T → ⌈log₂P⌉α + ⌈log₂P⌉·S·β for S ≫ chunk_bytes).
// In place at the root; every other rank's buffer is scratch.
#include "algo/steps.h"

namespace onet::algo {

Status reduce_binomial(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, int root, const Options& o) {
  const int P = c.size;
  if (P == 1 || count == 0) return Status::Ok();
  detail::TreeJob j;
  j.what = "binomial reduce";
  j.buf = static_cast<char*>(buf);
  j.dt = dt;
  j.op = op;
  j.reduce = true;
  j.trees.push_back({detail::binomial_parents(P, root), 0, count, c.tag, c.tag + 1});
  return detail::tree_run(c, j, o);
}

}  // namespace onet::algo
