// Pipelined chain broadcast: root → root+1 → … → root+P-1, in chunks of C bytes.
// T = (P-2 + ⌈S/C⌉)(α + C·β) ≈ (P-1)α + S·β for S ≫ P·C: every link carries S once, so
// it wins for large S; the (P-1)-hop fill makes it lose to binomial for small S.
#include "algo/steps.h"

namespace onet::algo {

Status broadcast_chain(net::Comm& c, void* buf, size_t bytes, int root, const Options& o) {
  const int P = c.size;
  if (P == 1 || bytes == 0) return Status::Ok();
  detail::TreeJob j;
  j.what = "chain broadcast";
  j.buf = static_cast<char*>(buf);
  j.bcast = true;
  j.trees.push_back({detail::chain_parents(P, root), 0, bytes, c.tag, c.tag + 1});
  return detail::tree_run(c, j, o);
}

}  // namespace onet::algo
