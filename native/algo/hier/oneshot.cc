// One-shot allreduce = one round: α + (H−1)·Sβ + (H−1)·Sγ (S = bytes per host, H hosts).
// The header rides along with the data. Every host sends its header and its folded vector
// (behind its fusion advert, fuse.cc) to every other host, checks the headers as agree() does,
// and reduces all hosts' vectors in host order, so every host computes bitwise the same result.
// One network round instead of the header round plus the algorithm's (2 at H=2, 4 at H=3 with
// rabenseifner); each host sends (H−1)·S bytes, so only while that stays within the registry's
// limit (spec/algorithms.json: allreduce oneshot maxSentBytes → algo::kOneShotMaxSentBytes).
// The engine takes this path before the size rules; the cost model prices it the same way
// (src/scheduler/costmodel.ts, oneshotApplies).
// Deadlock-free: every receive is posted before any wait, and each host waits only for messages
// every other host sends unconditionally once it reaches this collective.
#include "algo/hier/internal.h"

namespace onet::cross {

bool oneshot(const CrossJob& j) {
  // A compressed allreduce runs its own one-round scheme (compressed.cc: zgather) after the header round.
  return j.coll == Coll::allreduce && j.comm.size > 1 && !compressed(j) &&
         j.count * dtype_size(j.dt) * uint64_t(j.comm.size - 1) <= algo::kOneShotMaxSentBytes;
}

Status run_allreduce_oneshot(CrossJob& j, const Hdr& mine) {
  net::Comm& c = j.comm;
  const int H = c.size;
  const size_t es = dtype_size(j.dt);
  const uint64_t n = j.count, nb = n * es;
  std::vector<const char*> ins;
  std::vector<char*> outs;
  if (Status st = buffers(j, n, &ins, &outs); !st.ok()) return st;
  j.chosen = "allreduce:oneshot";
  Hdr* hdrs = reinterpret_cast<Hdr*>(stage(j, sizeof(Hdr) * H));
  hdrs[c.rank] = mine;
  // Host h's message at all + h·blk: its fusion advert (fuse.cc), then its folded
  // vector, padded to 8 bytes so that every host's advert stays aligned.
  const uint64_t blk = sizeof(Advert) + ((nb + 7) & ~uint64_t(7));
  char* all = stage(j, blk * H);
  auto vec = [&](int h) { return all + h * blk + sizeof(Advert); };
  char* s = stage(j, nb);
  offer_fusion(j, reinterpret_cast<Advert*>(all + c.rank * blk));
  Status st = fold(j, vec(c.rank), ins, n);
  if (!st.ok()) return st;
  const uint64_t htag = c.tag | 0xFFFF, dtag = c.tag | 0xFFFE;
  std::vector<std::unique_ptr<net::Request>> hq, dq;
  for (int h = 0; h < H; h++) {
    if (h == c.rank) continue;
    hq.push_back(c.pairs[h]->irecv(&hdrs[h], sizeof(Hdr), htag));
    hq.push_back(c.pairs[h]->isend(&hdrs[c.rank], sizeof(Hdr), htag));
    dq.push_back(c.pairs[h]->irecv(all + h * blk, blk, dtag));
    dq.push_back(c.pairs[h]->isend(all + c.rank * blk, blk, dtag));
  }
  // Headers first: a host that called something else fails here, not in a data mismatch.
  if (!(st = wait_joined(j, hq)).ok() || !(st = compare(j, mine, hdrs)).ok() || !(st = wait_joined(j, dq)).ok())
    return st;
  if (nb) {
    std::vector<const void*> v(H);
    for (int h = 0; h < H; h++) v[h] = vec(h);
    st = reduce::reduce(inter_op(j.op), j.dt, s, v.data(), H, n, 1.0, 1);
    if (st.ok()) st = finish_avg(j, s, n);
    if (!st.ok()) return st;
    for (char* o : outs) memcpy(o, s, nb);
  }
  return run_fused(j, all, blk);
}

}  // namespace onet::cross
