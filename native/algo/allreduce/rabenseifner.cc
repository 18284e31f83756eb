// Rabenseifner allreduce = recursive-halving reduce-scatter + recursive-doubling allgather.
// P = 2^k: 2·log₂P steps; 2(P-1)/P·S bytes per rank.
// T = 2·log₂P·α + 2(P-1)/P·S·β + (P-1)/P·S·γ. Otherwise the first 2r ranks (r = P - 2^⌊log₂P⌋)
// fold pairwise first and get the result back last: + 2α + 2S·β + S·γ on those ranks.
// Logarithmic latency and optimal bandwidth: wins for mid-to-large S at power-of-two P.
#include <vector>

#include "algo/steps.h"

namespace onet::algo {

Status allreduce_rabenseifner(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options&) {
  const int P = c.size, me = c.rank;
  if (P == 1 || count == 0) return Status::Ok();
  const std::string what = "rabenseifner allreduce";
  const size_t es = dtype_size(dt);
  char* b = static_cast<char*>(buf);
  const detail::Fold f = detail::make_fold(P);
  const int nr = f.newrank(me);
  detail::Scratch tmp(count * es);
  if (me < 2 * f.rem && me % 2 == 1) {  // fold: take the even neighbour's vector
    Status s = c.pairs[me - 1]->irecv(tmp.data(), count * es, c.tag)->wait(c.deadline_ms);
    if (s.ok()) s = detail::reduce2(op, dt, b, tmp.data(), count);
    if (!s.ok()) return detail::at(what + " fold from " + std::to_string(me - 1), s);
  }
  if (me < 2 * f.rem && me % 2 == 0) {  // folded away: hand over, wait for the result
    detail::Req back = c.pairs[me + 1]->irecv(b, count * es, c.tag + 1);
    Status s = c.pairs[me + 1]->isend(b, count * es, c.tag)->wait(c.deadline_ms);
    if (s.ok()) s = back->wait(c.deadline_ms);
    return tmp.finish(detail::at(what + " fold with " + std::to_string(me + 1), s));
  }
  std::vector<size_t> bounds;
  for (const detail::Block& bl : detail::split(count, f.pof2)) bounds.push_back(bl.off);
  bounds.push_back(count);
  int log = 0;
  while ((1 << log) < f.pof2) ++log;
  Status s = detail::halving(c, f, nr, b, tmp.data(), bounds, dt, op, c.tag + 2, what);
  if (s.ok()) s = detail::doubling(c, f, nr, b, bounds, es, c.tag + 2 + log, what);
  if (s.ok() && me < 2 * f.rem) {
    s = detail::at(what + " unfold to " + std::to_string(me - 1),
                   c.pairs[me - 1]->isend(b, count * es, c.tag + 1)->wait(c.deadline_ms));
  }
  return tmp.finish(s);
}

}  // namespace onet::algo
