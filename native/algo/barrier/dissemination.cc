// Dissemination barrier. ⌈log₂P⌉ rounds of one empty message: at distance d = 1, 2, 4, …
// signal rank + d and wait for rank - d. T = ⌈log₂P⌉·α for any P.
#include "algo/steps.h"

namespace onet::algo {

Status barrier_dissemination(net::Comm& c, const Options&) {
  const int P = c.size, me = c.rank;
  char dummy = 0, sink = 0;
  int round = 0;
  for (int d = 1; d < P; d <<= 1, ++round) {
    Status s = detail::sendrecv(c, (me + d) % P, &dummy, 0, (me - d + P) % P, &sink, 0, c.tag + round);
    if (!s.ok()) return detail::at("dissemination barrier round " + std::to_string(round), s);
  }
  return Status::Ok();
}

}  // namespace onet::algo
