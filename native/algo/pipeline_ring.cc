// The chunked ring schedule behind ring allreduce, ring allgather and ring reduce-scatter
// (steps.h, struct Ring). Deadlock freedom: receives complete in (step, chunk) order and the
// send of (s+1, k) depends only on the receive of (s, k), which the left neighbour sent
// strictly earlier in the same order; sends never block.
#include <algorithm>
#include <deque>

#include "algo/steps.h"

namespace onet::algo::detail {

Status ring_run(net::Comm& c, const Ring& r, const Options& o) {
  const int P = c.size, me = c.rank;
  if (P == 1 || r.steps == 0) return Status::Ok();
  const size_t es = dtype_size(r.dt);
  const size_t ce = std::max<size_t>(1, o.chunk_bytes / es);  // elements per chunk
  const int W = std::max(1, o.inflight);
  net::Pair* right = c.pairs[(me + 1) % P];
  net::Pair* left = c.pairs[(me - 1 + P) % P];
  auto recv_block = [&](int s) { return mod(long(me) - s - 1 - r.shift, P); };
  auto nchunks = [&](int b) { return (r.blocks[b].n + ce - 1) / ce; };
  auto chunk = [&](int b, size_t k, size_t* n) {
    const Block& bl = r.blocks[b];
    *n = std::min(ce, bl.n - k * ce);
    return r.buf + (bl.off + k * ce) * es;
  };

  struct Rx {
    int step;
    size_t k;
  };
  std::vector<Rx> rx;
  for (int s = 0; s < r.steps; ++s) {
    for (size_t k = 0, nk = nchunks(recv_block(s)); k < nk; ++k) rx.push_back({s, k});
  }
  size_t max_chunk = 0;
  for (const Block& b : r.blocks) max_chunk = std::max(max_chunk, std::min(ce, b.n));
  Scratch tmp(r.reduce_steps > 0 ? size_t(W) * max_chunk * es : 0);

  std::vector<Req> sends;
  std::deque<Req> posted;
  size_t next_post = 0;
  auto post = [&] {
    while (next_post < rx.size() && posted.size() < size_t(W)) {
      const Rx& x = rx[next_post];
      size_t n;
      char* dst = chunk(recv_block(x.step), x.k, &n);
      if (x.step < r.reduce_steps) dst = tmp.data() + (next_post % W) * max_chunk * es;
      posted.push_back(left->irecv(dst, n * es, r.tag));
      ++next_post;
    }
  };
  post();
  {  // step 0 sends the first block whole; every later send waits for its chunk to arrive
    const int b = mod(long(me) - r.shift, P);
    for (size_t k = 0, nk = nchunks(b); k < nk; ++k) {
      size_t n;
      const char* src = chunk(b, k, &n);
      sends.push_back(right->isend(src, n * es, r.tag));
    }
  }
  for (size_t i = 0; i < rx.size(); ++i) {
    const Rx x = rx[i];
    Status s = posted.front()->wait(c.deadline_ms);
    if (!s.ok()) return at(r.what + " step " + std::to_string(x.step), s);
    posted.pop_front();
    size_t n;
    char* dst = chunk(recv_block(x.step), x.k, &n);
    if (x.step < r.reduce_steps) {
      s = reduce2(r.op, r.dt, dst, tmp.data() + (i % W) * max_chunk * es, n);
      if (!s.ok()) return at(r.what + " step " + std::to_string(x.step), s);
    }
    post();
    if (x.step + 1 < r.steps) sends.push_back(right->isend(dst, n * es, r.tag));
  }
  return tmp.finish(at(r.what + " final sends", wait_all(c, sends)));
}

}  // namespace onet::algo::detail
