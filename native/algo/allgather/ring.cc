// Ring allgather(v). P-1 steps; each rank sends every block but the last it receives:
// T = (P-1)α + (P-1)/P·S·β (S = the gathered size). Chunked and pipelined; blocks may be any
// size (zeros included) and anywhere in the buffer. Bandwidth-optimal: wins for large S.
#include "algo/steps.h"

namespace onet::algo {

Status allgather_ring(net::Comm& c, void* out, const std::vector<size_t>& counts, const std::vector<size_t>& displs,
                      DType dt, const Options& o) {
  const int P = c.size;
  if (P == 1) return Status::Ok();
  detail::Ring r;
  r.what = "ring allgather";
  r.buf = static_cast<char*>(out);
  r.dt = dt;
  for (int i = 0; i < P; ++i) r.blocks.push_back({displs[i], counts[i]});
  r.shift = 0;
  r.steps = P - 1;
  r.reduce_steps = 0;
  r.tag = c.tag;
  return detail::ring_run(c, r, o);
}

}  // namespace onet::algo
