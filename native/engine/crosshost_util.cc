// Cross-host helpers: staging, the header agreement round, arena range checks, and picking
// and running the inter-host algorithm by size rule.
#include "engine/crosshost_internal.h"

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
  while (keep < t_spare.size() && keep < kSpareMax && total + t_spare[keep].size() <= kSpareBytes) total += t_spare[keep++].size();
  t_spare.resize(keep);
}

std::string label(const CrossJob& j) { return std::string(coll_name(j.coll)) + " #" + std::to_string(j.seq); }

// Waits for the header exchange's requests; a timeout names the hosts that never joined.
Status wait_joined(CrossJob& j, std::vector<std::unique_ptr<net::Request>>& rq) {
  net::Comm& c = j.comm;
  for (auto& r : rq) {
    Status st = r->wait(c.deadline_ms);
    if (!st.ok()) {
      // Before the deadline a kTimeout is another host's abort notice (its code): keep its text.
      if (st.code == Code::kTimeout && net::now_ms() >= c.deadline_ms) {
        std::string missing;
        for (int h = 0; h < c.size; h++)
          if (h != c.rank) missing += (missing.empty() ? "" : "; ") + std::string("host ") + std::to_string(j.host_ids[h]) +
                                      " (ranks " + ranks_of(j.host_members[h], j) + ")";
        return {Code::kTimeout, label(j) + " in group " + std::to_string(j.group) + ": timed out waiting for " + missing +
                                    " to join — check that every rank makes the same calls, or raise ONET_TIMEOUT"};
      }
      return {st.code, label(j) + ": " + st.msg};
    }
  }
  return Status::Ok();
}

// Compares every host's header with ours; a difference is a kMismatch naming both sides.
Status compare(const CrossJob& j, const Hdr& mine, const Hdr* theirs) {
  const net::Comm& c = j.comm;
  for (int h = 0; h < c.size; h++) {
    if (h == c.rank) continue;
    const Hdr& t = theirs[h];
    if (t.bad && !mine.bad)
      return {Code(t.bad), label(j) + ": ranks " + ranks_of(j.host_members[h], j) + " (host " + std::to_string(j.host_ids[h]) +
                               ") made an invalid call (their error names it: a buffer past the arena, a bad count list); "
                               "every rank of the collective fails instead of waiting"};
    std::string a = "ranks " + ranks_of(j.host_members[c.rank], j) + " (host " + std::to_string(j.host_ids[c.rank]) + ")";
    std::string b = "ranks " + ranks_of(j.host_members[h], j) + " (host " + std::to_string(j.host_ids[h]) + ")";
    std::ostringstream o;
    if (t.seq != mine.seq) o << label(j) << ": " << b << " are at sequence " << t.seq << " while " << a << " are at " << mine.seq;
    else if (t.coll != mine.coll) o << "#" << j.seq << ": " << a << " called " << coll_name(Coll(mine.coll)) << ", " << b << " called " << coll_name(Coll(t.coll));
    else if (t.dtype != mine.dtype) o << label(j) << ": dtype differs: " << a << " have " << dtype_name(DType(mine.dtype)) << ", " << b << " have " << dtype_name(DType(t.dtype));
    else if (t.redop != mine.redop) o << label(j) << ": reduce op differs: " << a << " have " << redop_name(RedOp(mine.redop)) << ", " << b << " have " << redop_name(RedOp(t.redop));
    else if (t.root != mine.root) o << label(j) << ": root differs: " << a << " have " << mine.root << ", " << b << " have " << t.root;
    else if (t.count != mine.count) o << label(j) << ": count differs: " << a << " have " << mine.count << ", " << b << " have " << t.count;
    else if (t.counts_hash != mine.counts_hash) o << label(j) << ": per-rank counts differ between " << a << " and " << b;
    else if (t.scale != mine.scale) o << label(j) << ": premul_sum factor differs: " << a << " have " << mine.scale << ", " << b << " have " << t.scale;
    else if (t.rules_hash != mine.rules_hash) o << label(j) << ": the hosts of " << a << " and " << b << " chose algorithms by different rules (set ONET_ALGO and ONET_TOPO_FILE identically on every host)";
    if (!o.str().empty()) return {Code::kMismatch, o.str() + " — every rank must make the same collective call in the same order"};
  }
  return Status::Ok();
}

// Everyone sends its header to everyone (H is small; one round of latency).
Status agree(CrossJob& j, const Hdr& mine) {
  net::Comm& c = j.comm;
  if (c.size == 1) return Status::Ok();
  uint64_t tag = c.tag | 0xFFFF;
  Hdr* theirs = reinterpret_cast<Hdr*>(stage(j, sizeof(Hdr) * c.size));
  theirs[c.rank] = mine;  // sent from staging: a send abandoned by a timeout outlives this frame
  std::vector<std::unique_ptr<net::Request>> rq;
  for (int h = 0; h < c.size; h++) {
    if (h == c.rank) continue;
    rq.push_back(c.pairs[h]->irecv(&theirs[h], sizeof(Hdr), tag));
    rq.push_back(c.pairs[h]->isend(&theirs[c.rank], sizeof(Hdr), tag));
  }
  Status st = wait_joined(j, rq);
  return st.ok() ? compare(j, mine, theirs) : st;
}

// Resolve a byte range inside a local member's arena, or explain why it does not fit.
Status at(const CrossJob& j, const CrossPart& p, uint64_t off, uint64_t elems, const char* what, char** out) {
  size_t es = dtype_size(j.dt);
  if (off > p.data_bytes || elems > (p.data_bytes - off) / (es ? es : 1))
    return {Code::kInvalid, label(j) + ": rank " + std::to_string(p.rank) + " " + what + " [" + std::to_string(off) + ", +" +
                                std::to_string(elems) + " elements) runs past its arena of " + std::to_string(p.data_bytes) +
                                " bytes; allocate the tensor in the arena or raise ONET_ARENA_BYTES"};
  *out = p.data + off;
  return Status::Ok();
}

const AlgoRule* pick(CrossJob& j, Coll c, uint64_t bytes) {
  for (const AlgoRule& r : j.rules)
    if (r.coll == c && bytes <= r.max_bytes) {
      j.chosen = std::string(coll_name(c)) + ":" + r.algo;
      return &r;
    }
  return nullptr;
}

Status inter_allreduce(CrossJob& j, void* buf, uint64_t n, RedOp op) {
  if (j.comm.size == 1) return Status::Ok();
  const AlgoRule* r = pick(j, Coll::allreduce, n * dtype_size(j.dt));
  algo::Options o;
  if (r && r->chunk_bytes) o.chunk_bytes = r->chunk_bytes;
  std::string a = r ? r->algo : "ring";
  if (a == "dbtree") return algo::allreduce_dbtree(j.comm, buf, n, j.dt, op, o);
  if (a == "rabenseifner") return algo::allreduce_rabenseifner(j.comm, buf, n, j.dt, op, o);
  return algo::allreduce_ring(j.comm, buf, n, j.dt, op, o);
}

Status inter_allgatherv(CrossJob& j, void* buf, const std::vector<size_t>& counts, const std::vector<size_t>& displs) {
  if (j.comm.size == 1) return Status::Ok();
  size_t total = 0;
  for (size_t x : counts) total += x;
  const AlgoRule* r = pick(j, Coll::allgather, total * dtype_size(j.dt));
  algo::Options o;
  if (r && r->chunk_bytes) o.chunk_bytes = r->chunk_bytes;
  std::string a = r ? r->algo : "ring";
  if (a == "bruck") return algo::allgather_bruck(j.comm, buf, counts, displs, j.dt, o);
  if (a == "recdoubling") return algo::allgather_recdoubling(j.comm, buf, counts, displs, j.dt, o);
  return algo::allgather_ring(j.comm, buf, counts, displs, j.dt, o);
}

Status inter_broadcast(CrossJob& j, void* buf, uint64_t bytes, int root_host) {
  if (j.comm.size == 1) return Status::Ok();
  const AlgoRule* r = pick(j, Coll::broadcast, bytes);
  algo::Options o;
  if (r && r->chunk_bytes) o.chunk_bytes = r->chunk_bytes;
  if (r && r->algo == "chain") return algo::broadcast_chain(j.comm, buf, bytes, root_host, o);
  return algo::broadcast_binomial(j.comm, buf, bytes, root_host, o);
}

Status inter_reduce_scatter(CrossJob& j, void* buf, const std::vector<size_t>& counts, const std::vector<size_t>& displs, RedOp op) {
  if (j.comm.size == 1) return Status::Ok();
  size_t total = 0;
  for (size_t x : counts) total += x;
  const AlgoRule* r = pick(j, Coll::reduce_scatter, total * dtype_size(j.dt));
  algo::Options o;
  if (r && r->chunk_bytes) o.chunk_bytes = r->chunk_bytes;
  if (r && r->algo == "rechalving") return algo::reduce_scatter_rechalving(j.comm, buf, counts, displs, j.dt, op, o);
  return algo::reduce_scatter_ring(j.comm, buf, counts, displs, j.dt, op, o);
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
