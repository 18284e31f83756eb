// Compressed allreduce by "compress once, gather" (compressed.h): every host encodes its vector once,
// chunk by chunk, sends each frame to every other host, and every host decodes all H frames of a chunk
// (its own included) and reduces them in host order — the one-shot allreduce's schedule with frames.
// One round; (H−1)·S/ratio bytes sent per host; T = α + (H−1)·S·β/ratio + S·encode + H·S·decode + (H−1)·S·γ.
// Per element: one quantisation of each host's input, none of the sum, so top-k's kept values add up
// exactly and nothing is re-sparsified. Deadlock-free: every header receive is posted before any wait,
// every send is posted before the first receive is waited for, and each payload receive follows its
// header, which the peer sent unconditionally.
#include <algorithm>
#include <cstring>

#include "algo/zframes.h"
#include "reduce/reduce.h"

namespace onet::algo {

using namespace detail;

Status allreduce_zgather(net::Comm& c, void* vbuf, size_t count, DType dt, RedOp op, const codec::Spec& z,
                         float* residual, const Options& o, ZStats* stats) {
  const int H = c.size, me = c.rank;
  if (residual) std::memset(residual, 0, count * sizeof(float));
  if (H == 1 || count == 0) return Status::Ok();
  const std::string what = "gather allreduce (" + codec::name(z) + ")";
  char* buf = static_cast<char*>(vbuf);
  const size_t es = dtype_size(dt);
  const size_t ce = std::min(count, std::max<size_t>(1, o.chunk_bytes / es));
  const size_t nk = (count + ce - 1) / ce;
  const size_t max_frame = codec::max_frame_bytes(z, dt, ce);
  Frames fr;
  std::vector<char*> mine(nk);
  std::vector<size_t> mine_bytes(nk);
  std::vector<Req> sends;
  // Every header receive first (32 bytes each), then this host's frames out to everyone.
  std::vector<std::vector<Incoming>> in(nk);
  for (auto& row : in) row.resize(H);
  for (size_t k = 0; k < nk; k++)
    for (int h = 0; h < H; h++) {
      if (h == me) continue;
      in[k][h].n = std::min(ce, count - k * ce);
      in[k][h].frame = fr.alloc(max_frame);
      post_header(c, h, &in[k][h]);
    }
  Status s;
  for (size_t k = 0; k < nk; k++) {
    const size_t n = std::min(ce, count - k * ce);
    mine[k] = fr.alloc(max_frame);
    if (!(s = codec::encode(z, dt, buf + k * ce * es, n, mine[k], &mine_bytes[k])).ok())
      return fr.finish(at(what + " encode", s));
    for (int h = 0; h < H; h++)
      if (h != me) send_frame(c, h, mine[k], mine_bytes[k], &sends);
    if (stats) stats->raw_bytes += (H - 1) * n * es, stats->sent_bytes += (H - 1) * mine_bytes[k];
  }
  char* dec = fr.alloc(size_t(H) * ce * es);
  std::vector<const void*> v(H);
  for (size_t k = 0; k < nk; k++) {
    const size_t n = std::min(ce, count - k * ce);
    char* dst = buf + k * ce * es;
    for (int h = 0; h < H; h++) {
      const std::string where = what + " chunk " + std::to_string(k) + " from host " + std::to_string(h);
      char* f = mine[k];
      size_t fb = mine_bytes[k];
      if (h != me && !(s = recv_frame(c, h, in[k][h], dt, max_frame, &fb)).ok()) return fr.finish(at(where, s));
      if (h != me) f = in[k][h].frame;
      v[h] = dec + h * ce * es;
      if (!(s = codec::decode(f, fb, dt, n, dec + h * ce * es)).ok()) return fr.finish(at(where, s));
    }
    if (residual) {  // what this host's one encode lost
      const float* x = reinterpret_cast<const float*>(dst);
      const float* d = reinterpret_cast<const float*>(v[me]);
      for (size_t i = 0; i < n; i++) residual[k * ce + i] = x[i] - d[i];
    }
    if (!(s = reduce::reduce(op, dt, dst, v.data(), H, n, 1.0, 1)).ok()) return fr.finish(at(what, s));
  }
  return fr.finish(at(what + " final sends", wait_all(c, sends)));
}

}  // namespace onet::algo
