// Ring allreduce = reduce-scatter + allgather. 2(P-1) steps; 2(P-1)/P·S bytes per rank.
// T = 2(P-1)α + 2(P-1)/P·S·β + (P-1)/P·S·γ. Chunked (Options.chunk_bytes) so consecutive
// steps overlap; bandwidth-optimal, latency linear in P: the choice for large S.
#include "algo/steps.h"

namespace onet::algo {

Status allreduce_ring(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const Options& o) {
  const int P = c.size;
  if (P == 1 || count == 0) return Status::Ok();
  detail::Ring r;
  r.what = "ring allreduce";
  r.buf = static_cast<char*>(buf);
  r.dt = dt;
  r.op = op;
  r.blocks = detail::split(count, P);
  r.shift = 0;
  r.steps = 2 * (P - 1);
  r.reduce_steps = P - 1;
  r.tag = c.tag;
  return detail::ring_run(c, r, o);
}

}  // namespace onet::algo
