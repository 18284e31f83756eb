// Hierarchical helpers: staging, labels and hashes, arena range checks, the local fold and the
// per-rank layout of v-collectives.
#include "algo/hier/internal.h"

namespace onet::cross {

uint64_t fnv(const std::vector<uint64_t>& v) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t x : v) {
    h ^= x;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t hash_rules(const std::vector<AlgoRule>& rules) {
  std::vector<uint64_t> v;
  for (const AlgoRule& r : rules) {
    v.push_back(uint64_t(r.coll));
    v.push_back(r.max_bytes);
    v.push_back(r.chunk_bytes);
    for (char ch : r.algo) v.push_back(uint64_t(uint8_t(ch)));
  }
  return fnv(v);
}

std::string ranks_of(const std::vector<int>& granks, const CrossJob& j) {
  (void)j;
  std::ostringstream o;
  for (size_t i = 0; i < granks.size(); i++) o << (i ? "," : "") << granks[i];
  return o.str();
}

// Staging lives as long as the job: after a failed transfer the transport may still write
// into it, so a failed job is kept alive until the device is closed (Engine::lanes). A job
// that succeeded hands its buffers back (recycle) for the next call on the same lane thread:
// a fresh multi-MiB vector costs page faults and zeroing on every call (70–130 ms for 64 MiB
// on the 2-core CI machine, more than 10% of a 64 MiB allreduce at 1 Gbit/s).
thread_local std::vector<std::vector<char>> t_spare;
constexpr size_t kSpareMax = 4;
constexpr size_t kSpareBytes = size_t(1) << 30;

char* stage(CrossJob& j, size_t bytes) {
  size_t best = t_spare.size();
  for (size_t i = 0; i < t_spare.size(); i++) {  // best fit, and never a much larger buffer
    size_t sz = t_spare[i].size();
    if (sz >= bytes && sz <= 4 * bytes + (64u << 10) && (best == t_spare.size() || sz < t_spare[best].size())) best = i;
  }
  if (best < t_spare.size()) {
    j.scratch.push_back(std::move(t_spare[best]));
    t_spare.erase(t_spare.begin() + long(best));
  } else {
    j.scratch.emplace_back(bytes);
  }
  return j.scratch.back().data();
}

void recycle(CrossJob& j) {
  for (auto& v : j.scratch)
    if (!v.empty()) t_spare.push_back(std::move(v));
  j.scratch.clear();
  std::sort(t_spare.begin(), t_spare.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  size_t total = 0, keep = 0;
  while (keep < t_spare.size() && keep < kSpareMax && total + t_spare[keep].size() <= kSpareBytes)
    total += t_spare[keep++].size();
  t_spare.resize(keep);
}

std::string label(const CrossJob& j) { return std::string(coll_name(j.coll)) + " #" + std::to_string(j.seq); }

// Resolve a byte range inside a local member's arena, or explain why it does not fit.
Status at(const CrossJob& j, const CrossPart& p, uint64_t off, uint64_t elems, const char* what, char** out) {
  size_t es = dtype_size(j.dt);
  if (off > p.data_bytes || elems > (p.data_bytes - off) / (es ? es : 1))
    return {Code::kInvalid, label(j) + ": rank " + std::to_string(p.rank) + " " + what + " [" + std::to_string(off) +
                                ", +" + std::to_string(elems) + " elements) runs past its arena of " +
                                std::to_string(p.data_bytes) +
                                " bytes; allocate the tensor in the arena or raise ONET_ARENA_BYTES"};
  *out = p.data + off;
  return Status::Ok();
}

// The op the local fold applies and the op the hosts combine with: avg is summed and divided
// once at the end; premul_sum multiplies locally and sums across hosts.
RedOp local_op(RedOp op) { return op == RedOp::avg ? RedOp::sum : op; }
RedOp inter_op(RedOp op) { return (op == RedOp::avg || op == RedOp::premul_sum) ? RedOp::sum : op; }

Status fold(const CrossJob& j, char* dst, const std::vector<const char*>& ins, uint64_t n) {
  if (ins.empty() || n == 0) return Status::Ok();
  std::vector<const void*> v(ins.begin(), ins.end());
  return reduce::reduce(local_op(j.op), j.dt, dst, v.data(), int(v.size()), n, j.scale, 1);
}

Status finish_avg(const CrossJob& j, char* buf, uint64_t n) {
  if (j.op != RedOp::avg || n == 0) return Status::Ok();
  const void* in[1] = {buf};
  return reduce::reduce(RedOp::avg, j.dt, buf, in, 1, n, 1.0, j.P);
}

bool contiguous(const CrossJob& j) {
  int next = 0;
  for (auto& m : j.host_members)
    for (int g : m)
      if (g != next++) return false;
  return true;
}

// Per-rank counts of a v-collective, read from the first local member's aux area.
Status rank_counts(const CrossJob& j, std::vector<uint64_t>* counts) {
  counts->assign(j.P, j.count);
  if (j.coll != Coll::allgatherv && j.coll != Coll::reduce_scatterv) return Status::Ok();
  const CrossPart& p = j.local[0];
  char* a;
  CrossJob tmp = j;
  tmp.dt = DType::i64;
  Status st = at(tmp, p, p.slot->aux_off, j.P, "count list", &a);
  if (!st.ok()) return st;
  memcpy(counts->data(), a, j.P * 8);
  return Status::Ok();
}

// Per-rank counts and their prefix sums (rank-major displacements; d[P] is the total).
Status rank_layout(const CrossJob& j, std::vector<uint64_t>* c, std::vector<uint64_t>* d) {
  Status st = rank_counts(j, c);
  d->assign(j.P + 1, 0);
  for (int g = 0; st.ok() && g < j.P; g++) (*d)[g + 1] = (*d)[g] + (*c)[g];
  return st;
}

// The range checks each collective's run_* would make, done before the header round so that a
// host whose ranks passed bad buffers tells the others (Hdr::bad) instead of leaving them to
// wait for data until their deadline. alltoall(v) checks its count lists as it packs.
Status check_local(const CrossJob& j) {
  std::vector<uint64_t> rc, rd;
  Status st = rank_layout(j, &rc, &rd);
  if (!st.ok()) return st;
  const uint64_t n = j.count, total = rd[j.P];
  if (j.P && n > UINT64_MAX / uint64_t(j.P))
    return {Code::kInvalid, label(j) + ": count " + std::to_string(n) + " overflows when multiplied by the group size"};
  for (auto& p : j.local) {
    uint64_t in = 0, out = 0;
    bool root = p.grank == j.root;
    switch (j.coll) {
      case Coll::allreduce: in = out = n; break;
      case Coll::reduce: in = n, out = root ? n : 0; break;
      case Coll::broadcast: in = root ? n : 0, out = n; break;
      case Coll::allgather:
      case Coll::allgatherv: in = rc[p.grank], out = total; break;
      case Coll::reduce_scatter:
      case Coll::reduce_scatterv: in = total, out = rc[p.grank]; break;
      case Coll::gather: in = n, out = root ? n * j.P : 0; break;
      case Coll::scatter: in = root ? n * j.P : 0, out = n; break;
      default: continue;
    }
    char* x;
    if (in && !(st = at(j, p, p.slot->in_off, in, "input", &x)).ok()) return st;
    if (out && !(st = at(j, p, p.slot->out_off, out, "output", &x)).ok()) return st;
  }
  return Status::Ok();
}

int host_of(const CrossJob& j, int grank) {
  for (size_t h = 0; h < j.host_members.size(); h++)
    for (int g : j.host_members[h])
      if (g == grank) return int(h);
  return 0;
}

}  // namespace onet::cross
