// Recursive-doubling allgather(v). P = 2^k: log₂P steps, doubling the exchanged data:
// T = log₂P·α + (P-1)/P·S·β. Otherwise the first 2r ranks (r = P - 2^⌊log₂P⌋) fold their
// block into the odd neighbour first (+ α + S/P·β) and get the whole result back last
// (+ α + S·β). Blocks that are not back to back in rank order go through a packed copy.
// Logarithmic latency: wins for small and medium S.
#include <cstring>
#include <vector>

#include "algo/steps.h"

namespace onet::algo {

Status allgather_recdoubling(net::Comm& c, void* out, const std::vector<size_t>& counts,
                             const std::vector<size_t>& displs, DType dt, const Options&) {
  const int P = c.size, me = c.rank;
  if (P == 1) return Status::Ok();
  const std::string what = "recdoubling allgather";
  const size_t es = dtype_size(dt);
  std::vector<size_t> pref(P + 1, 0);
  bool packed = true;
  for (int i = 0; i < P; ++i) {
    pref[i + 1] = pref[i] + counts[i];
    packed = packed && displs[i] == pref[i];
  }
  const size_t total = pref[P];
  if (total == 0) return Status::Ok();
  char* user = static_cast<char*>(out);
  detail::Scratch pack;
  char* work = user;
  if (!packed) {
    pack.resize(total * es);
    work = pack.data();
    std::memcpy(work + pref[me] * es, user + displs[me] * es, counts[me] * es);
  }
  const detail::Fold f = detail::make_fold(P);
  const int nr = f.newrank(me);
  Status s;
  if (me < 2 * f.rem && me % 2 == 0) {  // folded away: hand over the block, get everything back
    detail::Req back = c.pairs[me + 1]->irecv(work, total * es, c.tag + 1);
    s = c.pairs[me + 1]->isend(work + pref[me] * es, counts[me] * es, c.tag)->wait(c.deadline_ms);
    if (s.ok()) s = back->wait(c.deadline_ms);
    if (!s.ok()) return detail::at(what + " fold with " + std::to_string(me + 1), s);
  } else {
    if (me < 2 * f.rem) {
      s = c.pairs[me - 1]->irecv(work + pref[me - 1] * es, counts[me - 1] * es, c.tag)->wait(c.deadline_ms);
      if (!s.ok()) return detail::at(what + " fold from " + std::to_string(me - 1), s);
    }
    std::vector<size_t> bounds;
    for (int g = 0; g < f.pof2; ++g) bounds.push_back(pref[f.first_block(g)]);
    bounds.push_back(total);
    s = detail::doubling(c, f, nr, work, bounds, es, c.tag + 2, what);
    if (s.ok() && me < 2 * f.rem) {
      s = detail::at(what + " unfold to " + std::to_string(me - 1),
                     c.pairs[me - 1]->isend(work, total * es, c.tag + 1)->wait(c.deadline_ms));
    }
    if (!s.ok()) return s;
  }
  if (!packed) {
    for (int i = 0; i < P; ++i) {
      if (i != me) std::memcpy(user + displs[i] * es, work + pref[i] * es, counts[i] * es);
    }
  }
  return pack.finish(Status::Ok());
}

}  // namespace onet::algo
