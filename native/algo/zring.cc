// Compressed ring allreduce (compressed.h) = reduce-scatter re-quantising each hop + allgather forwarding
// the owner's frame. 2(P−1) steps; 2(P−1)/P·S/ratio bytes per rank (+ 64 bytes of headers per chunk hop).
// T = 2(P−1)α + 2(P−1)/P·S·β/ratio + (P−1)/P·S·γ + P·S·(encode + decode)/P per host, the codec's work
// overlapping the network chunk by chunk (encode of chunk k of step s+1 happens as soon as chunk k of
// step s arrived, while the other chunks are on the wire).
// Per element: P−1 quantisations in the reduce-scatter (each of a partial sum) and one of the result.
// Deadlock freedom as pipeline_ring.cc: receives complete in (step, chunk) order, every send of (s+1, k)
// depends only on the receive of (s, k), which the left neighbour sent strictly earlier; sends never
// block, and header receives are posted `inflight` ahead.
#include <algorithm>
#include <cstring>
#include <deque>

#include "algo/zframes.h"

namespace onet::algo {

using namespace detail;

Status allreduce_zring(net::Comm& c, void* vbuf, size_t count, DType dt, RedOp op, const codec::Spec& z,
                       float* residual, const Options& o, ZStats* stats) {
  const int P = c.size, me = c.rank;
  if (residual) std::memset(residual, 0, count * sizeof(float));
  if (P == 1 || count == 0) return Status::Ok();
  const std::string what = "ring allreduce (" + codec::name(z) + ")";
  char* buf = static_cast<char*>(vbuf);
  const size_t es = dtype_size(dt);
  const size_t ce = std::max<size_t>(1, o.chunk_bytes / es);
  const int W = std::max(1, o.inflight), steps = 2 * (P - 1);
  const std::vector<Block> blocks = split(count, P);
  const int right = (me + 1) % P, left = (me - 1 + P) % P;
  auto nchunks = [&](int b) { return (blocks[b].n + ce - 1) / ce; };
  auto chunk = [&](int b, size_t k, size_t* n) {
    *n = std::min(ce, blocks[b].n - k * ce);
    return blocks[b].off + k * ce;  // element offset
  };
  const size_t max_frame = codec::max_frame_bytes(z, dt, std::min(ce, blocks[0].n));
  Frames fr;
  char* tmp = fr.alloc(std::min(ce, blocks[0].n) * es);
  char* keep = residual ? fr.alloc(std::min(ce, blocks[0].n) * es) : nullptr;
  std::vector<Req> sends;

  // Encodes elements [off, off+n) of buf and sends the frame right; with error feedback, the residual
  // of those elements is what the encode lost. With `adopt`, buf takes the decoded values (the owner
  // of a reduced block keeps exactly what everyone else will decode).
  auto encode_send = [&](size_t off, size_t n, bool adopt) -> Status {
    char* f = fr.alloc(max_frame);
    size_t fb = 0;
    char* src = buf + off * es;
    Status s = codec::encode(z, dt, src, n, f, &fb);
    if (!s.ok()) return s;
    send_frame(c, right, f, fb, &sends);
    if (stats) stats->raw_bytes += n * es, stats->sent_bytes += fb;
    if (residual || adopt) {
      if (residual) std::memcpy(keep, src, n * es);
      if (!(s = codec::decode(f, fb, dt, n, adopt ? src : tmp)).ok()) return s;
      if (residual) {
        const float* dec = reinterpret_cast<const float*>(adopt ? src : tmp);
        const float* val = reinterpret_cast<const float*>(keep);
        for (size_t i = 0; i < n; i++) residual[off + i] = val[i] - dec[i];
      }
    }
    return Status::Ok();
  };

  struct Rx {
    int step;
    size_t k;
  };
  std::vector<Rx> rx;
  for (int s = 0; s < steps; ++s)
    for (size_t k = 0, nk = nchunks(mod(long(me) - s - 1, P)); k < nk; ++k) rx.push_back({s, k});
  std::deque<Incoming> posted;
  size_t next_post = 0;
  auto post = [&] {
    while (next_post < rx.size() && posted.size() < size_t(W) + 1) {
      const Rx& x = rx[next_post++];
      Incoming in;
      chunk(mod(long(me) - x.step - 1, P), x.k, &in.n);
      in.frame = fr.alloc(max_frame);
      post_header(c, left, &in);
      posted.push_back(std::move(in));
    }
  };
  post();
  const bool lossy_adopt = !codec::is_lossless(z.kind);
  Status s;
  {  // step 0: this host's own block, chunk by chunk
    const int b = me;
    for (size_t k = 0, nk = nchunks(b); k < nk; ++k) {
      size_t n, off = chunk(b, k, &n);
      // P == 2: step 0's block is never the one this host owns at the end, so it is a partial sum.
      if (!(s = encode_send(off, n, false)).ok()) return fr.finish(at(what + " step 0", s));
    }
  }
  for (size_t i = 0; i < rx.size(); ++i) {
    const Rx x = rx[i];
    const std::string where = what + " step " + std::to_string(x.step);
    Incoming in = std::move(posted.front());
    posted.pop_front();
    size_t fb = 0, n, off = chunk(mod(long(me) - x.step - 1, P), x.k, &n);
    if (!(s = recv_frame(c, left, in, dt, max_frame, &fb)).ok()) return fr.finish(at(where, s));
    post();
    char* dst = buf + off * es;
    if (x.step < P - 1) {  // reduce-scatter: add the incoming partial sum to ours
      if (!(s = codec::decode(in.frame, fb, dt, n, tmp)).ok()) return fr.finish(at(where, s));
      if (!(s = reduce2(op, dt, dst, tmp, n)).ok()) return fr.finish(at(where, s));
      // The last reduce step completes this block: encode it once for everyone (and adopt the decoded
      // bytes, so the owner holds what every other host will decode); before, pass the partial sum on.
      const bool last = x.step == P - 2;
      if (!(s = encode_send(off, n, last && lossy_adopt)).ok()) return fr.finish(at(where, s));
    } else {  // allgather: decode, and forward the very same frame
      if (!(s = codec::decode(in.frame, fb, dt, n, dst)).ok()) return fr.finish(at(where, s));
      if (x.step + 1 < steps) {
        send_frame(c, right, in.frame, fb, &sends);
        if (stats) stats->raw_bytes += n * es, stats->sent_bytes += fb;
      }
    }
  }
  return fr.finish(at(what + " final sends", wait_all(c, sends)));
}

}  // namespace onet::algo
