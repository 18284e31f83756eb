// Recursive-halving reduce-scatter(v). P = 2^k: log₂P steps, halving the exchanged vector
// each time: T = log₂P·α + (P-1)/P·S·β + (P-1)/P·S·γ. Otherwise the first 2r ranks
// (r = P - 2^⌊log₂P⌋) fold pairwise first (+ α + S·β + S·γ) and get their block back last
// (+ α + S/P·β). Logarithmic latency: wins over ring for small and medium S.
#include <cstring>
#include <vector>

#include "algo/steps.h"

namespace onet::algo {

Status reduce_scatter_rechalving(net::Comm& c, void* buf, const std::vector<size_t>& counts,
                                 const std::vector<size_t>& displs, DType dt, RedOp op, const Options&) {
  const int P = c.size, me = c.rank;
  if (P == 1) return Status::Ok();
  const std::string what = "rechalving reduce_scatter";
  const size_t es = dtype_size(dt);
  std::vector<size_t> pref(P + 1, 0);
  bool packed = true;  // blocks already back to back in rank order
  for (int i = 0; i < P; ++i) {
    pref[i + 1] = pref[i] + counts[i];
    packed = packed && displs[i] == pref[i];
  }
  const size_t total = pref[P];
  if (total == 0) return Status::Ok();
  char* user = static_cast<char*>(buf);
  detail::Scratch pack;
  char* work = user;
  if (!packed) {
    pack.resize(total * es);
    for (int i = 0; i < P; ++i) std::memcpy(pack.data() + pref[i] * es, user + displs[i] * es, counts[i] * es);
    work = pack.data();
  }
  const detail::Fold f = detail::make_fold(P);
  const int nr = f.newrank(me);
  detail::Scratch tmp(total * es);
  Status s;
  if (me < 2 * f.rem && me % 2 == 1) {
    s = c.pairs[me - 1]->irecv(tmp.data(), total * es, c.tag)->wait(c.deadline_ms);
    if (s.ok()) s = detail::reduce2(op, dt, work, tmp.data(), total);
    if (!s.ok()) return detail::at(what + " fold from " + std::to_string(me - 1), s);
  }
  if (me < 2 * f.rem && me % 2 == 0) {
    detail::Req back = c.pairs[me + 1]->irecv(work + pref[me] * es, counts[me] * es, c.tag + 1);
    s = c.pairs[me + 1]->isend(work, total * es, c.tag)->wait(c.deadline_ms);
    if (s.ok()) s = back->wait(c.deadline_ms);
    if (!s.ok()) return detail::at(what + " fold with " + std::to_string(me + 1), s);
  } else {
    std::vector<size_t> bounds;
    for (int g = 0; g < f.pof2; ++g) bounds.push_back(pref[f.first_block(g)]);
    bounds.push_back(total);
    s = detail::halving(c, f, nr, work, tmp.data(), bounds, dt, op, c.tag + 2, what);
    if (s.ok() && me < 2 * f.rem) {  // hand the even neighbour its block
      s = detail::at(
          what + " unfold to " + std::to_string(me - 1),
          c.pairs[me - 1]->isend(work + pref[me - 1] * es, counts[me - 1] * es, c.tag + 1)->wait(c.deadline_ms));
    }
    if (!s.ok()) return s;
  }
  if (!packed) std::memcpy(user + displs[me] * es, work + pref[me] * es, counts[me] * es);
  pack.finish(Status::Ok());
  return tmp.finish(Status::Ok());
}

}  // namespace onet::algo
