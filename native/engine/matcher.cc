// Matching: collectives by (group, seq), point-to-point FIFO by (group, src, dst, tag).
// Invariant: a request is completed exactly once, and every request that can no longer
// finish (invalid peer request, dead rank, deadline) is failed at once — never left to hang.
#include <algorithm>
#include <sstream>

#include "engine/engine.h"
#include "reduce/reduce.h"
#include "shm/futex.h"

namespace onet {

namespace {

bool is_rooted(Coll c) {
  return c == Coll::reduce || c == Coll::broadcast || c == Coll::gather || c == Coll::scatter;
}
bool is_reducing(Coll c) {
  return c == Coll::allreduce || c == Coll::reduce || c == Coll::reduce_scatter || c == Coll::reduce_scatterv;
}
bool count_checked(Coll c) {
  return c != Coll::allgatherv && c != Coll::reduce_scatterv && c != Coll::alltoallv && c != Coll::barrier;
}
std::string op_label(Coll c, uint64_t seq) { return std::string(coll_name(c)) + " #" + std::to_string(seq); }

}  // namespace

std::string Engine::validate(const Group& g, const shm::Slot& s, int grank) const {
  const int P = int(g.ranks.size());
  // Messages are built only on the error path: this runs for every arrival (keep it ~ns).
  auto me = [&] { return "rank " + std::to_string(g.ranks[grank]); };
  if (s.coll < uint32_t(Coll::allreduce) || s.coll > uint32_t(Coll::recv))
    return me() + " posted unknown collective " + std::to_string(s.coll) + " (protocol v1 knows 1..14)";
  Coll c = Coll(s.coll);
  auto head = [&] { return op_label(c, s.seq) + ": " + me() + " "; };
  if (c != Coll::barrier && !dtype_valid(s.dtype))
    return head() + "posted unknown dtype " + std::to_string(s.dtype) + " (0..7: f32 f64 f16 bf16 i8 u8 i32 i64)";
  if (is_reducing(c) && s.redop >= kNumRedOps)
    return head() + "posted unknown reduce op " + std::to_string(s.redop) + " (0..8)";
  if (is_reducing(c)) {
    // Ask the kernels whether they support op × dtype (an empty reduce validates only).
    const char dummy[8] = {};
    const void* in[1] = {dummy};
    Status st = reduce::reduce(RedOp(s.redop), DType(s.dtype), nullptr, in, 1, 0, s.scale, 1);
    if (!st.ok()) return "ENOTSUP:" + head() + st.msg;
  }
  if (is_rooted(c) && (s.root < 0 || s.root >= P))
    return head() + "named root " + std::to_string(s.root) + ", outside the group of " + std::to_string(P);
  if (c == Coll::send && (s.root < 0 || s.root >= P))
    return head() + "sends to rank " + std::to_string(s.root) + ", outside the group of " + std::to_string(P);
  if (c == Coll::recv && (s.root < -1 || s.root >= P))
    return head() + "receives from rank " + std::to_string(s.root) + ", outside the group of " + std::to_string(P);
  if ((c == Coll::send || c == Coll::recv) && s.root == grank)
    return head() + "sends to or receives from itself; copy locally instead";
  return "";
}

void Engine::on_post(RankState& r, uint32_t idx) {
  shm::Slot* s = shm::slot_at(r.seg->base(), idx);
  Posted p{r.rank, idx, s, shm::now_ns(), ++order_};
  stats_.on_post();
  auto git = groups_.find(s->group);
  if (git == groups_.end() && has_cmds_.load()) {  // its set_group may still be queued
    run_commands();
    git = groups_.find(s->group);
  }
  if (git == groups_.end()) {
    complete(r.rank, idx, Code::kInvalid,
             "rank " + std::to_string(r.rank) + " posted to group " + std::to_string(s->group) +
                 ", which is not registered: send the 'group' control message first");
    return;
  }
  Group& g = git->second;
  if (!g.grank.count(r.rank)) {
    complete(r.rank, idx, Code::kInvalid,
             "rank " + std::to_string(r.rank) + " is not a member of group " + std::to_string(g.id));
    return;
  }
  if (s->coll == uint32_t(Coll::send) || s->coll == uint32_t(Coll::recv)) on_p2p_post(g, p);
  else on_group_post(g, p);
}

void Engine::on_group_post(Group& g, const Posted& p) {
  const int P = int(g.ranks.size());
  int gr = g.grank[p.rank];
  uint64_t seq = p.slot->seq;
  if (seq <= g.last_seq[gr]) {
    complete(p.rank, p.idx, Code::kInvalid,
             op_label(Coll(p.slot->coll), seq) + ": rank " + std::to_string(p.rank) + " posted sequence " +
                 std::to_string(seq) + " after " + std::to_string(g.last_seq[gr]) +
                 "; sequence numbers must increase by one per collective");
    return;
  }
  g.last_seq[gr] = seq;
  Pending& pd = g.pending[seq];
  if (pd.by_grank.empty()) {
    pd.by_grank.assign(P, Posted{-1, 0, nullptr, 0, 0});
    pd.t0 = p.t0;
  }
  pd.by_grank[gr] = p;
  pd.arrived++;
  std::string bad = validate(g, *p.slot, gr);
  if (!bad.empty() && pd.poison.empty()) {
    pd.poison = bad;
    if (bad.rfind("ENOTSUP:", 0) == 0) {
      pd.poison = bad.substr(8);
      pd.poison_code = Code::kUnsupported;
    }
  }
  for (int r : g.ranks)
    if (ranks_[r] && ranks_[r]->dead && pd.poison.empty()) {
      pd.poison = op_label(Coll(p.slot->coll), seq) + ": " + ranks_[r]->dead_why;
      pd.poison_code = ranks_[r]->dead_code;
    }
  if (!pd.poison.empty()) {
    fail_pending(g, seq, pd, pd.poison_code, pd.poison);
    return;
  }
  if (pd.arrived == g.nlocal) {
    if (g.cross) execute_cross(g, seq, pd);
    else execute(g, seq, pd);
  }
}

void Engine::fail_pending(Group& g, uint64_t seq, Pending& pd, Code code, const std::string& msg) {
  // Fail the ranks that arrived now; later arrivals meet the poison in on_group_post.
  for (auto& q : pd.by_grank)
    if (q.rank >= 0 && q.slot) {
      complete(q.rank, q.idx, code, msg);
      q.slot = nullptr;
    }
  if (pd.arrived == g.nlocal) g.pending.erase(seq);
}

// Agreement check among the members that arrived (all of them on a single host; the local
// ones when the group spans hosts): every field that must match, named in the error.
std::string Engine::disagreement(const Group& g, uint64_t seq, const Pending& pd) const {
  const int P = int(g.ranks.size());
  int first = 0;
  while (first < P && pd.by_grank[first].rank < 0) first++;
  const shm::Slot& a = *pd.by_grank[first].slot;
  Coll c = Coll(a.coll);
  std::string diff;
  for (int i = first + 1; i < P && diff.empty(); i++) {
    if (pd.by_grank[i].rank < 0) continue;
    const shm::Slot& b = *pd.by_grank[i].slot;
    // Fast path first (every collective passes here): strings only once a field differs.
    bool differs = b.coll != a.coll || (c != Coll::barrier && b.dtype != a.dtype) || (is_reducing(c) && b.redop != a.redop) ||
                   (is_rooted(c) && b.root != a.root) || (count_checked(c) && b.count != a.count) ||
                   (is_reducing(c) && a.redop == uint32_t(RedOp::premul_sum) && b.scale != a.scale);
    if (!differs) continue;
    std::string r0 = "rank " + std::to_string(g.ranks[first]), ri = "rank " + std::to_string(g.ranks[i]);
    std::ostringstream o;
    if (b.coll != a.coll)
      o << "#" << seq << ": " << r0 << " called " << coll_name(c) << ", " << ri << " called " << coll_name(Coll(b.coll));
    else if (c != Coll::barrier && b.dtype != a.dtype)
      o << op_label(c, seq) << ": dtype differs: " << r0 << " has " << dtype_name(DType(a.dtype)) << ", " << ri
        << " has " << dtype_name(DType(b.dtype));
    else if (is_reducing(c) && b.redop != a.redop)
      o << op_label(c, seq) << ": reduce op differs: " << r0 << " has " << redop_name(RedOp(a.redop)) << ", " << ri
        << " has " << redop_name(RedOp(b.redop));
    else if (is_rooted(c) && b.root != a.root)
      o << op_label(c, seq) << ": root differs: " << r0 << " has " << a.root << ", " << ri << " has " << b.root;
    else if (count_checked(c) && b.count != a.count)
      o << op_label(c, seq) << ": count differs: " << r0 << " has " << a.count << ", " << ri << " has " << b.count;
    else if (is_reducing(c) && a.redop == uint32_t(RedOp::premul_sum) && b.scale != a.scale)
      o << op_label(c, seq) << ": premul_sum factor differs: " << r0 << " has " << a.scale << ", " << ri << " has "
        << b.scale;
    diff = o.str();
  }
  return diff;
}

void Engine::execute(Group& g, uint64_t seq, Pending& pd) {
  const int P = int(g.ranks.size());
  const shm::Slot& a = *pd.by_grank[0].slot;
  Coll c = Coll(a.coll);
  std::string diff = disagreement(g, seq, pd);
  if (!diff.empty()) {
    fail_pending(g, seq, pd, Code::kMismatch, diff + " — every rank must make the same collective call in the same order");
    return;
  }
  local::Matched m{c, DType(a.dtype), RedOp(a.redop), a.root, a.count, a.scale, seq, {}};
  for (auto& q : pd.by_grank) {
    RankState* r = ranks_[q.rank].get();
    m.parts.push_back({q.slot, shm::data_of(r->seg->base()), shm::head_of(r->seg->base())->data_bytes, q.rank});
  }
  Plan plan;
  Status st = local::build_plan(m, &plan);
  int64_t t0 = shm::now_ns();
  if (st.ok()) st = exec_.run(plan);
  if (!st.ok()) {
    // An invalid request blames one rank, but every rank of the collective must hear of it.
    fail_pending(g, seq, pd, st.code, st.msg);
    return;
  }
  int64_t t1 = shm::now_ns();
  stats_.arrivals.clear();  // read the slots before completing them: ranks reuse them at once
  for (auto& q : pd.by_grank) stats_.arrivals.push_back({q.rank, q.t0, q.slot->in_off, q.slot->out_off});
  for (int i = 0; i < P; i++) complete(pd.by_grank[i].rank, pd.by_grank[i].idx, Code::kOk, "");
  stats_.on_collective(c, uint32_t(m.dt), g.id, seq, m.count, t0, t1);  // m: slots may be reused by now
  g.pending.erase(seq);
}

void Engine::on_p2p_post(Group& g, const Posted& p) {
  int gr = g.grank[p.rank];
  std::string bad = validate(g, *p.slot, gr);
  if (!bad.empty()) {
    complete(p.rank, p.idx, Code::kInvalid, bad);
    return;
  }
  int peer = p.slot->root;
  if (g.cross && p.slot->coll == uint32_t(Coll::send) && !is_local(g.ranks[peer])) {
    start_remote_send(g, p);
    return;
  }
  if (peer >= 0 && ranks_[g.ranks[peer]] && ranks_[g.ranks[peer]]->dead) {
    complete(p.rank, p.idx, ranks_[g.ranks[peer]]->dead_code, ranks_[g.ranks[peer]]->dead_why);
    return;
  }
  (p.slot->coll == uint32_t(Coll::send) ? sends_ : recvs_).push_back(p);
  try_match_p2p();
}

// Pair the oldest recv with the oldest send that fits it. Lists are short (≤ 64 per rank).
void Engine::try_match_p2p() {
  for (size_t ri = 0; ri < recvs_.size();) {
    const Posted& rv = recvs_[ri];
    const Group& g = groups_[rv.slot->group];
    int me = g.grank.at(rv.rank);
    size_t best = sends_.size();
    for (size_t si = 0; si < sends_.size(); si++) {
      const Posted& sd = sends_[si];
      if (sd.slot->group != rv.slot->group || sd.slot->tag != rv.slot->tag || sd.slot->root != me) continue;
      int from = g.grank.at(sd.rank);
      if (rv.slot->root != -1 && rv.slot->root != from) continue;
      best = si;
      break;  // sends_ is in arrival order
    }
    // A send from another host that arrived earlier wins (network.cc keeps them in order).
    size_t rb = find_remote_send(g, rv, me);
    if (rb != SIZE_MAX && (best == sends_.size() || remote_sends_[rb].t0 < sends_[best].t0)) {
      Posted r = rv;
      recvs_.erase(recvs_.begin() + ri);
      deliver_remote(g, r, rb);
      continue;
    }
    if (best == sends_.size()) { ri++; continue; }
    Posted sd = sends_[best];
    sends_.erase(sends_.begin() + best);
    Posted r = rv;
    recvs_.erase(recvs_.begin() + ri);
    int from = g.grank.at(sd.rank);
    std::string label = "send/recv between rank " + std::to_string(sd.rank) + " and rank " + std::to_string(r.rank);
    if (sd.slot->dtype != r.slot->dtype) {
      std::string msg = label + ": dtype differs (" + dtype_name(DType(sd.slot->dtype)) + " sent, " +
                        dtype_name(DType(r.slot->dtype)) + " expected)";
      complete(sd.rank, sd.idx, Code::kMismatch, msg);
      complete(r.rank, r.idx, Code::kMismatch, msg);
      continue;
    }
    if (sd.slot->count > r.slot->count) {
      std::string msg = label + ": " + std::to_string(sd.slot->count) + " elements sent into a buffer of " +
                        std::to_string(r.slot->count) + "; post a larger recv";
      complete(sd.rank, sd.idx, Code::kInvalid, msg);
      complete(r.rank, r.idx, Code::kInvalid, msg);
      continue;
    }
    local::Matched m{Coll::send, DType(sd.slot->dtype), RedOp::sum, 0, sd.slot->count, 1.0, 0, {}};
    for (const Posted* q : {&sd, &r}) {
      RankState* rs = ranks_[q->rank].get();
      m.parts.push_back({q->slot, shm::data_of(rs->seg->base()), shm::head_of(rs->seg->base())->data_bytes, q->rank});
    }
    char *src, *dst;
    Status st = local::resolve(m, 0, {sd.slot->in_off, sd.slot->count}, "send buffer", &src);
    if (st.ok()) st = local::resolve(m, 1, {r.slot->out_off, sd.slot->count}, "recv buffer", &dst);
    Plan plan;
    plan.dt = m.dt;
    if (st.ok()) {
      plan.copy(src, dst, sd.slot->count);
      st = exec_.run(plan);
    }
    // Read the sender's count before completing it: the rank may reuse the slot at once.
    uint64_t sent = sd.slot->count;
    complete(sd.rank, sd.idx, st.code, st.msg);
    complete(r.rank, r.idx, st.code, st.msg, from, st.ok() ? sent : 0);
  }
}

// "rank 1 last seen in allreduce #6": the last collective the rank completed, so a timeout shows
// where a missing rank stopped (a skipped call, a hang in user code, or a crash loop).
std::string Engine::last_seen(int rank) const {
  const RankState* r = rank >= 0 && rank < int(ranks_.size()) ? ranks_[rank].get() : nullptr;
  std::string who = "rank " + std::to_string(rank);
  if (!r) return who + " never registered";
  if (!r->last_seq) return who + " completed no collective yet";
  return who + " last seen in " + op_label(Coll(r->last_coll), r->last_seq) +
         (r->last_group ? " of group " + std::to_string(r->last_group) : "");
}

void Engine::check_deadlines(int64_t now) {
  int64_t limit = cfg_.timeout_ms * 1'000'000;
  for (auto& [gid, g] : groups_) {
    for (auto it = g.pending.begin(); it != g.pending.end();) {
      Pending& pd = it->second;
      if (now - pd.t0 < limit || pd.arrived == g.nlocal) { ++it; continue; }
      std::string missing, seen, coll = "collective";
      for (size_t i = 0; i < pd.by_grank.size(); i++) {
        if (pd.by_grank[i].rank < 0) {
          if (is_local(g.ranks[i])) {
            missing += (missing.empty() ? "" : ", ") + std::to_string(g.ranks[i]);
            seen += (seen.empty() ? " (" : "; ") + last_seen(g.ranks[i]);
          }
        } else if (pd.by_grank[i].slot) coll = coll_name(Coll(pd.by_grank[i].slot->coll));
      }
      std::string msg = coll + " #" + std::to_string(it->first) + " in group " + std::to_string(gid) +
                        ": timed out after " + std::to_string(cfg_.timeout_ms / 1000) + " s waiting for rank(s) " +
                        missing + (seen.empty() ? "" : seen + ")") + " — check that every rank makes the same calls, or raise ONET_TIMEOUT";
      for (auto& q : pd.by_grank)
        if (q.rank >= 0 && q.slot) complete(q.rank, q.idx, Code::kTimeout, msg);
      it = g.pending.erase(it);
    }
  }
  auto expire = [&](std::vector<Posted>& v, const char* what) {
    for (size_t i = 0; i < v.size();) {
      if (now - v[i].t0 < limit) { i++; continue; }
      complete(v[i].rank, v[i].idx, Code::kTimeout,
               std::string(what) + " on rank " + std::to_string(v[i].rank) + " (peer " + std::to_string(v[i].slot->root) +
                   ", tag " + std::to_string(v[i].slot->tag) + ") found no matching peer call within " +
                   std::to_string(cfg_.timeout_ms / 1000) + " s");
      v.erase(v.begin() + i);
    }
  };
  expire(sends_, "send");
  expire(recvs_, "recv");
  // Publish a snapshot of what is pending for `onet status`.
  std::ostringstream o;
  o << "[";
  bool first = true;
  for (auto& [gid, g] : groups_)
    for (auto& [seq, pd] : g.pending) {
      const Posted* any = nullptr;
      for (auto& q : pd.by_grank) if (q.rank >= 0 && q.slot) any = &q;
      o << (first ? "" : ",") << "{\"group\":" << gid << ",\"seq\":" << seq << ",\"ageMs\":" << (now - pd.t0) / 1000000
        << ",\"coll\":\"" << (any ? coll_name(Coll(any->slot->coll)) : "collective") << "\",\"arrived\":[";
      bool f2 = true;
      for (auto& q : pd.by_grank)
        if (q.rank >= 0) { o << (f2 ? "" : ",") << q.rank; f2 = false; }
      o << "],\"missing\":[";
      f2 = true;
      for (size_t i = 0; i < pd.by_grank.size(); i++)
        if (pd.by_grank[i].rank < 0 && is_local(g.ranks[i])) { o << (f2 ? "" : ",") << g.ranks[i]; f2 = false; }
      o << "]}";
      first = false;
    }
  o << "]";
  std::lock_guard<std::mutex> lk(snap_mu_);
  snapshot_ = o.str();
}

void Engine::do_fail_rank(int rank, Code code, const std::string& why) {
  if (rank < 0 || rank >= int(ranks_.size()) || !ranks_[rank]) return;
  RankState& r = *ranks_[rank];
  r.dead = true;
  r.dead_code = code;
  r.dead_why = why;
  for (auto& [gid, g] : groups_) {
    if (!g.grank.count(rank)) continue;
    for (auto it = g.pending.begin(); it != g.pending.end();) {
      Pending& pd = it->second;
      pd.poison = op_label(pd.by_grank[0].slot ? Coll(pd.by_grank[0].slot->coll) : Coll::barrier, it->first) + ": " + why;
      pd.poison_code = code;
      // The failed rank's own slots too: harmless if it died, and an aborted (still living) rank must hear.
      for (auto& q : pd.by_grank)
        if (q.rank >= 0 && q.slot) complete(q.rank, q.idx, code, pd.poison);
      it = g.pending.erase(it);
    }
  }
  auto drop = [&](std::vector<Posted>& v) {
    for (size_t i = 0; i < v.size();) {
      const Group& g = groups_[v[i].slot->group];
      int peer = v[i].slot->root;
      bool gone = v[i].rank == rank || (peer >= 0 && g.ranks[peer] == rank);
      if (!gone) { i++; continue; }
      if (v[i].rank != rank) complete(v[i].rank, v[i].idx, code, why);
      v.erase(v.begin() + i);
    }
  };
  drop(sends_);
  drop(recvs_);
  stats_.on_dropped(__builtin_popcountll(r.known));
  r.known = 0;
}

}  // namespace onet
