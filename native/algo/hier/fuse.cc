// Fusion of small cross-host allreduces into one exchange (docs/scheduling.md "Fusion in the
// engine"). The lane starting one-shot allreduce #s offers the allreduces queued right behind it
// (#s+1, #s+2, …: every local rank posted them) that could ride along; every host sends its
// offer (an Advert) in front of #s's one-shot data, and all hosts fuse the longest common prefix of all
// offers — same length, same counts. That is a function of what every host sent, so every host
// picks the same members without another round, and a host that has fewer ready fuses fewer:
// nobody waits for more to arrive.
//   unfused k small allreduces: k rounds; fused: 2 (the lead's one-shot round, then one
//   exchange of the other k−1 members' folded vectors, (H−1)·Σ bytes per host).
// Exactness: each member is folded, reduced across hosts (in host order) and averaged by the
// same kernel calls on the same element count as its own one-shot run would make — only at an
// offset in a bigger buffer — so results are bit-identical to unfused execution. That is why
// only members that would take the one-shot path alone are offered.
#include "algo/hier/internal.h"

namespace onet {

bool fusable(const CrossJob& lead, const CrossJob& c) {
  return c.coll == Coll::allreduce && c.dt == lead.dt && c.op == lead.op && c.root == lead.root &&
         std::memcmp(&c.scale, &lead.scale, sizeof c.scale) == 0 && c.P == lead.P && c.comm.size == lead.comm.size &&
         cross::oneshot(c) && cross::check_local(c).ok();
}

namespace cross {

// The fused round's tag in the lead's range (hier.h): algorithms use the low tags,
// headers 0xFFFF, one-shot data 0xFFFE. An aborted lead cancels the whole range, this included.
constexpr uint64_t kFusedTag = 0xFFFD;

void offer_fusion(const CrossJob& j, Advert* mine) {
  std::memset(mine, 0, sizeof *mine);
  mine->n = uint32_t(std::min(j.fuse_offer.size(), kMaxFused));
  for (uint32_t i = 0; i < mine->n; i++) mine->counts[i] = uint32_t(j.fuse_offer[i]->count);
}

Status run_fused(CrossJob& j, const char* base, size_t stride) {
  net::Comm& c = j.comm;
  const int H = c.size;
  auto ad = [&](int h) { return reinterpret_cast<const Advert*>(base + h * stride); };
  const Advert& mine = *ad(c.rank);
  size_t m = mine.n;
  for (int h = 0; h < H; h++) {
    m = std::min<size_t>(m, ad(h)->n);
    for (size_t i = 0; i < m; i++)
      if (ad(h)->counts[i] != mine.counts[i]) m = i;
  }
  j.fused = m;
  if (!m) return Status::Ok();
  const size_t es = dtype_size(j.dt);
  std::vector<uint64_t> off(m);
  uint64_t T = 0;  // members at 64-byte-aligned offsets, as the planner lays them out
  for (size_t i = 0; i < m; i++) {
    off[i] = T;
    T = (T + j.fuse_offer[i]->count * es + 63) & ~uint64_t(63);
  }
  char* all = stage(j, T * H + 64);  // host h's members at all + h·T
  char* s = stage(j, T + 64);
  std::vector<std::vector<char*>> outs(m);
  for (size_t i = 0; i < m; i++) {
    CrossJob& x = *j.fuse_offer[i];
    std::vector<const char*> ins;
    Status st = buffers(x, x.count, &ins, &outs[i]);
    if (st.ok()) st = fold(x, all + c.rank * T + off[i], ins, x.count);
    if (!st.ok()) return st;
  }
  // Even when every member is empty (T = 0): this round is what tells a host that agreed on the
  // members that every other host got this far too. A host whose lead failed before it read the
  // adverts runs the members alone later; the others must not complete them meanwhile, so they
  // wait here for its abort notice and fail them with it (on_cross_failure notifies per member).
  std::vector<std::unique_ptr<net::Request>> rq;
  for (int h = 0; h < H; h++) {
    if (h == c.rank) continue;
    rq.push_back(c.pairs[h]->irecv(all + h * T, T, c.tag | kFusedTag));
    rq.push_back(c.pairs[h]->isend(all + c.rank * T, T, c.tag | kFusedTag));
  }
  if (Status st = wait_joined(j, rq); !st.ok()) return st;
  std::vector<const void*> v(H);
  for (size_t i = 0; i < m; i++) {
    CrossJob& x = *j.fuse_offer[i];
    if (!x.count) continue;
    for (int h = 0; h < H; h++) v[h] = all + h * T + off[i];
    Status st = reduce::reduce(inter_op(x.op), x.dt, s + off[i], v.data(), H, x.count, 1.0, 1);
    if (st.ok()) st = finish_avg(x, s + off[i], x.count);
    if (!st.ok()) return st;
    for (char* o : outs[i]) std::memcpy(o, s + off[i], x.count * es);
  }
  return Status::Ok();
}

}  // namespace cross
}  // namespace onet
