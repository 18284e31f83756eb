// Hierarchical execution of one collective across hosts; see crosshost.h for the shape.
// Local data is always folded into engine-owned staging first, so in-place calls (input ==
// output, or overlapping reduce_scatter blocks) need no special cases.
#include "engine/crosshost.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "algo/algo.h"
#include "reduce/reduce.h"

namespace onet {

namespace {

struct Hdr {  // what every host must agree on; compared field by field
  uint32_t coll, dtype, redop;
  int32_t root;
  uint64_t count, seq;
  double scale;
  uint64_t counts_hash;  // v-variants: hash of the per-rank count vector
  uint64_t rules_hash;   // the algorithm rules: hosts configured differently must not run different algorithms
};

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
      if (st.code == Code::kTimeout) {
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

Status run_allreduce(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  uint64_t n = j.count;
  std::vector<const char*> ins;
  std::vector<char*> outs;
  for (auto& p : j.local) {
    char *i, *o;
    Status st = at(j, p, p.slot->in_off, n, "input", &i);
    if (st.ok()) st = at(j, p, p.slot->out_off, n, "output", &o);
    if (!st.ok()) return st;
    ins.push_back(i);
    outs.push_back(o);
  }
  char* s = stage(j, n * es);
  Status st = fold(j, s, ins, n);
  if (st.ok()) st = inter_allreduce(j, s, n, inter_op(j.op));
  if (st.ok()) st = finish_avg(j, s, n);
  if (!st.ok()) return st;
  for (char* o : outs) memcpy(o, s, n * es);
  return Status::Ok();
}

// Small allreduce in one round: the header rides along with the data. Every host sends its
// header and its folded vector to every other host, checks the headers as agree() does, and
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
  for (auto& p : j.local) {
    char *i, *o;
    Status st = at(j, p, p.slot->in_off, n, "input", &i);
    if (st.ok()) st = at(j, p, p.slot->out_off, n, "output", &o);
    if (!st.ok()) return st;
    ins.push_back(i);
    outs.push_back(o);
  }
  j.chosen = "allreduce:oneshot";
  Hdr* hdrs = reinterpret_cast<Hdr*>(stage(j, sizeof(Hdr) * H));
  hdrs[c.rank] = mine;
  char* all = stage(j, nb * H);  // host h's folded vector at all + h·nb
  char* s = stage(j, nb);
  Status st = fold(j, all + c.rank * nb, ins, n);
  if (!st.ok()) return st;
  const uint64_t htag = c.tag | 0xFFFF, dtag = c.tag | 0xFFFE;
  std::vector<std::unique_ptr<net::Request>> hq, dq;
  for (int h = 0; h < H; h++) {
    if (h == c.rank) continue;
    hq.push_back(c.pairs[h]->irecv(&hdrs[h], sizeof(Hdr), htag));
    hq.push_back(c.pairs[h]->isend(&hdrs[c.rank], sizeof(Hdr), htag));
    if (!nb) continue;
    dq.push_back(c.pairs[h]->irecv(all + h * nb, nb, dtag));
    dq.push_back(c.pairs[h]->isend(all + c.rank * nb, nb, dtag));
  }
  // Headers first: a host that called something else fails here, not in a data mismatch.
  if (!(st = wait_joined(j, hq)).ok() || !(st = compare(j, mine, hdrs)).ok() || !(st = wait_joined(j, dq)).ok()) return st;
  if (!nb) return Status::Ok();
  std::vector<const void*> v(H);
  for (int h = 0; h < H; h++) v[h] = all + h * nb;
  st = reduce::reduce(inter_op(j.op), j.dt, s, v.data(), H, n, 1.0, 1);
  if (st.ok()) st = finish_avg(j, s, n);
  if (!st.ok()) return st;
  for (char* o : outs) memcpy(o, s, nb);
  return Status::Ok();
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
  int root_host = 0;
  for (size_t h = 0; h < j.host_members.size(); h++)
    for (int g : j.host_members[h])
      if (g == j.root) root_host = int(h);
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

Status run_broadcast(CrossJob& j) {
  size_t bytes = j.count * dtype_size(j.dt);
  std::vector<char*> outs;
  const char* src = nullptr;
  for (auto& p : j.local) {
    char* o;
    Status st = at(j, p, p.slot->out_off, j.count, "output", &o);
    if (!st.ok()) return st;
    outs.push_back(o);
    if (p.grank == j.root) {
      char* i;
      if (!(st = at(j, p, p.slot->in_off, j.count, "input", &i)).ok()) return st;
      src = i;
    }
  }
  int root_host = 0;
  for (size_t h = 0; h < j.host_members.size(); h++)
    for (int g : j.host_members[h])
      if (g == j.root) root_host = int(h);
  char* s = stage(j, bytes);
  if (src) memcpy(s, src, bytes);
  Status st = inter_broadcast(j, s, bytes, root_host);
  if (!st.ok()) return st;
  for (char* o : outs) memcpy(o, s, bytes);
  return Status::Ok();
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

// Gathers: staging is host-major (each host's members back to back); when hosts own
// consecutive ranks that is also rank-major and the unpack is a plain copy.
// Per-rank counts and their prefix sums (rank-major displacements; d[P] is the total).
Status rank_layout(const CrossJob& j, std::vector<uint64_t>* c, std::vector<uint64_t>* d) {
  Status st = rank_counts(j, c);
  d->assign(j.P + 1, 0);
  for (int g = 0; st.ok() && g < j.P; g++) (*d)[g + 1] = (*d)[g] + (*c)[g];
  return st;
}

Status run_allgather(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  std::vector<uint64_t> rc, rdispl;
  Status st = rank_layout(j, &rc, &rdispl);
  if (!st.ok()) return st;
  uint64_t total = rdispl[j.P];
  const int H = int(j.host_members.size());
  std::vector<size_t> hc(H, 0), hd(H, 0);
  std::vector<uint64_t> pos(j.P);  // staging position of each group rank's block
  uint64_t cur = 0;
  for (int h = 0; h < H; h++) {
    hd[h] = cur;
    for (int g : j.host_members[h]) {
      pos[g] = cur;
      cur += rc[g];
      hc[h] += rc[g];
    }
  }
  char* s = stage(j, total * es);
  std::vector<char*> outs;
  for (auto& p : j.local) {
    char *i, *o;
    if (!(st = at(j, p, p.slot->in_off, rc[p.grank], "input", &i)).ok()) return st;
    if (!(st = at(j, p, p.slot->out_off, total, "output", &o)).ok()) return st;
    memcpy(s + pos[p.grank] * es, i, rc[p.grank] * es);
    outs.push_back(o);
  }
  if (!(st = inter_allgatherv(j, s, hc, hd)).ok()) return st;
  bool same = contiguous(j);
  for (char* o : outs) {
    if (same) memcpy(o, s, total * es);
    else
      for (int g = 0; g < j.P; g++) memcpy(o + rdispl[g] * es, s + pos[g] * es, rc[g] * es);
  }
  return Status::Ok();
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

int host_of(const CrossJob& j, int grank) {
  for (size_t h = 0; h < j.host_members.size(); h++)
    for (int g : j.host_members[h])
      if (g == grank) return int(h);
  return 0;
}

// gather/scatter: the root's host exchanges one packed block (its members back to back)
// with every other host directly — H-1 messages, each host's data crossing the network once.
Status run_gather_scatter(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  const int H = int(j.host_members.size()), me = j.comm.rank, rh = host_of(j, j.root);
  uint64_t n = j.count, total = n * j.P;
  std::vector<uint64_t> pos(j.P), hd(H), hc(H, 0);
  uint64_t cur = 0;
  for (int h = 0; h < H; h++) {
    hd[h] = cur;
    for (int g : j.host_members[h]) pos[g] = cur, cur += n, hc[h] += n;
  }
  char* s = stage(j, total * es);
  Status st;
  bool gather = j.coll == Coll::gather;
  const CrossPart* root = nullptr;
  for (auto& p : j.local)
    if (p.grank == j.root) root = &p;
  if (gather) {
    for (auto& p : j.local) {
      char* i;
      if (!(st = at(j, p, p.slot->in_off, n, "input", &i)).ok()) return st;
      memcpy(s + pos[p.grank] * es, i, n * es);
    }
  } else if (root) {
    char* i;
    if (!(st = at(j, *root, root->slot->in_off, total, "input", &i)).ok()) return st;
    for (int g = 0; g < j.P; g++) memcpy(s + pos[g] * es, i + uint64_t(g) * n * es, n * es);
  }
  std::vector<std::unique_ptr<net::Request>> rq;
  uint64_t tag = j.comm.tag + 1;
  if (me == rh) {
    for (int h = 0; h < H; h++) {
      if (h == me) continue;
      char* blk = s + hd[h] * es;
      rq.push_back(gather ? j.comm.pairs[h]->irecv(blk, hc[h] * es, tag) : j.comm.pairs[h]->isend(blk, hc[h] * es, tag));
    }
  } else {
    char* blk = s + hd[me] * es;
    rq.push_back(gather ? j.comm.pairs[rh]->isend(blk, hc[me] * es, tag) : j.comm.pairs[rh]->irecv(blk, hc[me] * es, tag));
  }
  for (auto& r : rq)
    if (!(st = r->wait(j.comm.deadline_ms)).ok()) return st;
  if (gather) {
    if (!root) return Status::Ok();
    char* o;
    if (!(st = at(j, *root, root->slot->out_off, total, "output", &o)).ok()) return st;
    for (int g = 0; g < j.P; g++) memcpy(o + uint64_t(g) * n * es, s + pos[g] * es, n * es);
    return Status::Ok();
  }
  for (auto& p : j.local) {
    char* o;
    if (!(st = at(j, p, p.slot->out_off, n, "output", &o)).ok()) return st;
    memcpy(o, s + pos[p.grank] * es, n * es);
  }
  return Status::Ok();
}

// alltoall(v): pack, per destination host, every (local sender, remote receiver) block in
// member order; exchange pairwise; unpack with the receivers' own counts. Everything is
// staged, so in-place calls are safe.
Status run_alltoall(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  const int H = int(j.host_members.size()), me = j.comm.rank, P = j.P;
  Status st;
  // Per local member: send counts/displs and recv counts/displs indexed by group rank.
  struct V { std::vector<uint64_t> sc, sd, rc, rd; char *in, *out; };
  std::vector<V> v(j.local.size());
  for (size_t li = 0; li < j.local.size(); li++) {
    const CrossPart& p = j.local[li];
    V& x = v[li];
    if (j.coll == Coll::alltoall) {
      for (int r = 0; r < P; r++) {
        x.sc.push_back(j.count); x.sd.push_back(r * j.count);
        x.rc.push_back(j.count); x.rd.push_back(r * j.count);
      }
    } else {
      char* a;
      CrossJob tmp = j;
      tmp.dt = DType::i64;
      if (!(st = at(tmp, p, p.slot->aux_off, 4 * P, "count lists", &a)).ok()) return st;
      std::vector<uint64_t> all(4 * P);
      memcpy(all.data(), a, 4 * P * 8);
      x.sc.assign(all.begin(), all.begin() + P);
      x.sd.assign(all.begin() + P, all.begin() + 2 * P);
      x.rc.assign(all.begin() + 2 * P, all.begin() + 3 * P);
      x.rd.assign(all.begin() + 3 * P, all.end());
    }
    uint64_t in_e = 0, out_e = 0;
    for (int r = 0; r < P; r++) {
      in_e = std::max(in_e, x.sd[r] + x.sc[r]);
      out_e = std::max(out_e, x.rd[r] + x.rc[r]);
    }
    if (!(st = at(j, p, p.slot->in_off, in_e, "input", &x.in)).ok()) return st;
    if (!(st = at(j, p, p.slot->out_off, out_e, "output", &x.out)).ok()) return st;
  }
  std::vector<size_t> sb(H, 0), sdp(H, 0), rb(H, 0), rdp(H, 0);
  size_t stot = 0, rtot = 0;
  for (int h = 0; h < H; h++) {
    sdp[h] = stot;
    rdp[h] = rtot;
    for (auto& x : v)
      for (int g : j.host_members[h]) sb[h] += x.sc[g] * es;
    for (int g : j.host_members[h])
      for (auto& x : v) rb[h] += x.rc[g] * es;
    stot += sb[h];
    rtot += rb[h];
  }
  char* sbuf = stage(j, stot);
  char* rbuf = stage(j, rtot);
  for (int h = 0; h < H; h++) {
    char* w = sbuf + sdp[h];
    for (auto& x : v)
      for (int g : j.host_members[h]) {
        memcpy(w, x.in + x.sd[g] * es, x.sc[g] * es);
        w += x.sc[g] * es;
      }
  }
  algo::Options o;
  if (!(st = algo::alltoall_pairwise(j.comm, sbuf, sb, sdp, rbuf, rb, rdp, o)).ok()) return st;
  // Host h packed (its member r, our member s) pairs with r outer: walk it the same way.
  for (int h = 0; h < H; h++) {
    const char* rp = rbuf + rdp[h];
    for (int r : j.host_members[h])
      for (auto& x : v) {
        memcpy(x.out + x.rd[r] * es, rp, x.rc[r] * es);
        rp += x.rc[r] * es;
      }
  }
  (void)me;
  return Status::Ok();
}

Status run_barrier(CrossJob& j) {
  if (j.comm.size == 1) return Status::Ok();
  algo::Options o;
  return algo::barrier_dissemination(j.comm, o);
}

}  // namespace

std::vector<AlgoRule> default_algo_rules() {
  const uint64_t kMax = UINT64_MAX;
  return {
      {Coll::allreduce, 64u << 10, "rabenseifner", 0},
      {Coll::allreduce, kMax, "ring", 1u << 20},
      {Coll::allgather, 64u << 10, "bruck", 0},
      {Coll::allgather, kMax, "ring", 1u << 20},
      {Coll::broadcast, 64u << 10, "binomial", 0},
      {Coll::broadcast, kMax, "chain", 1u << 20},
      {Coll::reduce_scatter, 64u << 10, "rechalving", 0},
      {Coll::reduce_scatter, kMax, "ring", 1u << 20},
  };
}

Status run_cross(CrossJob& j) {
  std::vector<uint64_t> rc;
  Status st = rank_counts(j, &rc);
  if (!st.ok()) return st;
  bool vvar = j.coll == Coll::allgatherv || j.coll == Coll::reduce_scatterv || j.coll == Coll::alltoallv;
  Hdr h{uint32_t(j.coll), uint32_t(j.dt), uint32_t(j.op), j.root, vvar ? 0 : j.count, j.seq, j.scale,
        j.coll == Coll::alltoallv ? 0 : fnv(rc), hash_rules(j.rules)};
  if (j.coll == Coll::barrier) h.dtype = h.redop = 0, h.count = 0, h.counts_hash = 0, h.scale = 0;
  if (j.coll != Coll::allreduce && j.coll != Coll::reduce && j.coll != Coll::reduce_scatter && j.coll != Coll::reduce_scatterv)
    h.redop = 0, h.scale = 0;
  if (oneshot(j)) {
    st = run_allreduce_oneshot(j, h);
  } else if ((st = agree(j, h)).ok()) {
    switch (j.coll) {
      case Coll::allreduce: st = run_allreduce(j); break;
      case Coll::reduce: st = run_reduce(j); break;
      case Coll::broadcast: st = run_broadcast(j); break;
      case Coll::allgather:
      case Coll::allgatherv: st = run_allgather(j); break;
      case Coll::reduce_scatter:
      case Coll::reduce_scatterv: st = run_reduce_scatter(j); break;
      case Coll::barrier: st = run_barrier(j); break;
      case Coll::gather:
      case Coll::scatter: st = run_gather_scatter(j); break;
      case Coll::alltoall:
      case Coll::alltoallv: st = run_alltoall(j); break;
      default:
        st = {Code::kUnsupported, label(j) + ": " + coll_name(j.coll) +
                                      " across hosts is not supported yet; keep these ranks on one host or use allgather/broadcast instead"};
    }
  }
  if (st.ok()) recycle(j);
  if (!st.ok() && st.msg.find(coll_name(j.coll)) == std::string::npos) st.msg = label(j) + ": " + st.msg;
  return st;
}

}  // namespace onet
