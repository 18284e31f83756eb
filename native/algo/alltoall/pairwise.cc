// Pairwise-exchange alltoall(v). P-1 steps; at step s send to rank+s and receive from rank-s,
// so every link is busy once per step and no rank is hot: T = (P-1)α + (P-1)/P·S·β (S = all
// bytes a rank sends). One step in flight keeps at most one message per direction in flight.
#include <cstring>

#include "algo/steps.h"

namespace onet::algo {

Status alltoall_pairwise(net::Comm& c, const void* send, const std::vector<size_t>& sbytes,
                         const std::vector<size_t>& sdispl, void* recv, const std::vector<size_t>& rbytes,
                         const std::vector<size_t>& rdispl, const Options&) {
  const int P = c.size, me = c.rank;
  const char* s = static_cast<const char*>(send);
  char* r = static_cast<char*>(recv);
  if (sbytes[me] != rbytes[me]) {
    return {Code::kMismatch, "pairwise alltoall: rank " + std::to_string(me) + " sends itself " +
                                 std::to_string(sbytes[me]) + " bytes but expects " + std::to_string(rbytes[me])};
  }
  if (sbytes[me]) std::memmove(r + rdispl[me], s + sdispl[me], sbytes[me]);
  for (int step = 1; step < P; ++step) {
    const int to = (me + step) % P, from = (me - step + P) % P;
    Status st = detail::sendrecv(c, to, s + sdispl[to], sbytes[to], from, r + rdispl[from], rbytes[from], c.tag);
    if (!st.ok()) return detail::at("pairwise alltoall step " + std::to_string(step), st);
  }
  return Status::Ok();
}

}  // namespace onet::algo
