// Bruck allgather(v). ⌈log₂P⌉ steps for any P: at distance d = 1, 2, 4, … send the first
// min(d, P-d) blocks held to rank - d and receive as many from rank + d.
// T = ⌈log₂P⌉·α + (P-1)/P·S·β + S·σ (σ: local copy per byte, for the rotated layout).
// Fewest steps at non-power-of-two P: wins for small S.
#include <algorithm>
#include <cstring>
#include <vector>

#include "algo/steps.h"

namespace onet::algo {

Status allgather_bruck(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs,
                       DType dt, const Options&) {
  const int P = c.size, me = c.rank;
  if (P == 1) return Status::Ok();
  const size_t es = dtype_size(dt);
  // Rotated layout: position q holds block (me + q) mod P; pos[q] is its byte offset.
  std::vector<size_t> pos(P + 1, 0);
  for (int q = 0; q < P; ++q) pos[q + 1] = pos[q] + counts[(me + q) % P] * es;
  if (pos[P] == 0) return Status::Ok();
  char* user = static_cast<char*>(out);
  detail::Scratch rot(pos[P]);
  std::memcpy(rot.data(), user + displs[me] * es, counts[me] * es);
  int step = 0;
  for (int d = 1; d < P; d <<= 1, ++step) {
    const int n = std::min(d, P - d);
    const int to = detail::mod(long(me) - d, P), from = (me + d) % P;
    Status s =
        detail::sendrecv(c, to, rot.data(), pos[n], from, rot.data() + pos[d], pos[d + n] - pos[d], c.tag + step);
    if (!s.ok()) return detail::at("bruck allgather step " + std::to_string(step), s);
  }
  for (int q = 1; q < P; ++q) {
    const int b = (me + q) % P;
    std::memcpy(user + displs[b] * es, rot.data() + pos[q], counts[b] * es);
  }
  return rot.finish(Status::Ok());
}

}  // namespace onet::algo
