// Ring reduce-scatter(v). P-1 steps; each rank sends and reduces every block but its own:
// T = (P-1)α + (P-1)/P·S·β + (P-1)/P·S·γ (equal blocks). Chunked and pipelined like ring
// allreduce; blocks may be any size (zeros included) and anywhere in the buffer.
#include "algo/steps.h"

namespace onet::algo {

Status reduce_scatter_ring(net::Comm& c, void* buf, const std::vector<size_t>& counts,
                           const std::vector<size_t>& displs, DType dt, RedOp op, const Options& o) {
  const int P = c.size;
  if (P == 1) return Status::Ok();
  detail::Ring r;
  r.what = "ring reduce_scatter";
  r.buf = static_cast<char*>(buf);
  r.dt = dt;
  r.op = op;
  for (int i = 0; i < P; ++i) r.blocks.push_back({displs[i], counts[i]});
  r.shift = 1;  // so that after P-1 steps rank r holds block r
  r.steps = P - 1;
  r.reduce_steps = P - 1;
  r.tag = c.tag;
  return detail::ring_run(c, r, o);
}

}  // namespace onet::algo
