// Binomial-tree broadcast. ⌈log₂P⌉ rounds: T = ⌈log₂P⌉(α + S·β) unpipelined. Chunked, so a
// rank forwards chunk k while chunk k+1 arrives; the root still sends S to each of its
// ⌈log₂P⌉ children. Wins for small S (latency) at any P.
#include "algo/steps.h"

namespace onet::algo {

Status broadcast_binomial(net::Comm& c, void* buf, size_t bytes, int root, const Options& o) {
  const int P = c.size;
  if (P == 1 || bytes == 0) return Status::Ok();
  detail::TreeJob j;
  j.what = "binomial broadcast";
  j.buf = static_cast<char*>(buf);
  j.bcast = true;
  j.trees.push_back({detail::binomial_parents(P, root), 0, bytes, c.tag, c.tag + 1});
  return detail::tree_run(c, j, o);
}

}  // namespace onet::algo
