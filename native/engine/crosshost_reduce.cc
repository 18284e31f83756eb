// Reducing collectives across hosts: fold local ranks in shared memory, combine across hosts,
// copy out. avg is summed and divided once; premul_sum multiplies locally and sums across hosts.
#include "engine/crosshost_internal.h"

namespace onet::cross {

// Every local rank's input and output of n elements (allreduce shape), range-checked.
Status buffers(const CrossJob& j, uint64_t n, std::vector<const char*>* ins, std::vector<char*>* outs) {
  for (auto& p : j.local) {
    char *i, *o;
    Status st = at(j, p, p.slot->in_off, n, "input", &i);
    if (st.ok()) st = at(j, p, p.slot->out_off, n, "output", &o);
    if (!st.ok()) return st;
    ins->push_back(i);
    outs->push_back(o);
  }
  return Status::Ok();
}

Status run_allreduce(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  uint64_t n = j.count;
  std::vector<const char*> ins;
  std::vector<char*> outs;
  if (Status st = buffers(j, n, &ins, &outs); !st.ok()) return st;
  char* s = stage(j, n * es);
  Status st = fold(j, s, ins, n);
  if (st.ok()) st = inter_allreduce(j, s, n, inter_op(j.op));
  if (st.ok()) st = finish_avg(j, s, n);
  if (!st.ok()) return st;
  for (char* o : outs) memcpy(o, s, n * es);
  return Status::Ok();
}

// Small allreduce in one round: the header rides along with the data. Every host sends its
// header and its folded vector (behind its fusion advert, crosshost_fuse.cc) to every other host, checks the headers as agree() does, and
// reduces all hosts' vectors in host order, so every host computes bitwise the same result.
// One network round instead of the header round plus the algorithm's (2 at H=2, 4 at H=3 with
// rabenseifner); each host sends (H−1)·n bytes, so only while that stays under kOneShotBytes.
constexpr uint64_t kOneShotBytes = 64u << 10;

bool oneshot(const CrossJob& j) {
  return j.coll == Coll::allreduce && j.comm.size > 1 && j.count * dtype_size(j.dt) * uint64_t(j.comm.size - 1) <= kOneShotBytes;
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
  // Host h's message at all + h·blk: its fusion advert (crosshost_fuse.cc), then its folded
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
  if (!(st = wait_joined(j, hq)).ok() || !(st = compare(j, mine, hdrs)).ok() || !(st = wait_joined(j, dq)).ok()) return st;
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

Status run_reduce(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  uint64_t n = j.count;
  std::vector<const char*> ins;
  char* root_out = nullptr;
  for (auto& p : j.local) {
    char* i;
    Status st = at(j, p, p.slot->in_off, n, "input", &i);
    if (st.ok() && p.grank == j.root) st = at(j, p, p.slot->out_off, n, "output", &root_out);
    if (!st.ok()) return st;
    ins.push_back(i);
  }
  const int root_host = host_of(j, j.root);
  char* s = stage(j, n * es);
  Status st = fold(j, s, ins, n);
  if (st.ok() && j.comm.size > 1) {
    algo::Options o;
    st = algo::reduce_binomial(j.comm, s, n, j.dt, inter_op(j.op), root_host, o);
  }
  if (st.ok() && root_out) {
    st = finish_avg(j, s, n);
    if (st.ok()) memcpy(root_out, s, n * es);
  }
  return st;
}


Status run_reduce_scatter(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  std::vector<uint64_t> rc, rd;
  Status st = rank_layout(j, &rc, &rd);
  if (!st.ok()) return st;
  uint64_t total = rd[j.P];
  std::vector<const char*> ins;
  std::vector<char*> outs;
  for (auto& p : j.local) {
    char *i, *o;
    if (!(st = at(j, p, p.slot->in_off, total, "input", &i)).ok()) return st;
    if (!(st = at(j, p, p.slot->out_off, rc[p.grank], "output", &o)).ok()) return st;
    ins.push_back(i);
    outs.push_back(o);
  }
  char* s = stage(j, total * es);
  if (!(st = fold(j, s, ins, total)).ok()) return st;
  if (contiguous(j)) {
    const int H = int(j.host_members.size());
    std::vector<size_t> hc(H, 0), hd(H, 0);
    for (int h = 0; h < H; h++) {
      hd[h] = rd[j.host_members[h].front()];
      for (int g : j.host_members[h]) hc[h] += rc[g];
    }
    st = inter_reduce_scatter(j, s, hc, hd, inter_op(j.op));
  } else {
    st = inter_allreduce(j, s, total, inter_op(j.op));
  }
  if (!st.ok()) return st;
  for (size_t i = 0; i < j.local.size(); i++) {
    int g = j.local[i].grank;
    char* blk = s + rd[g] * es;
    if (!(st = finish_avg(j, blk, rc[g])).ok()) return st;
    memcpy(outs[i], blk, rc[g] * es);
  }
  return Status::Ok();
}


}  // namespace onet::cross
