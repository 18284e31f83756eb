// Matching: collectives by (group, seq), point-to-point FIFO by (group, src, dst, tag).
// Invariant: a request is completed exactly once, and every request that can no longer
// finish (invalid peer request, dead rank, deadline) is failed at once — never left to hang.
#include <algorithm>
#include <sstream>

#include "engine/cma.h"
#include "engine/engine.h"
#include "engine/match.h"
#include "reduce/reduce.h"
#include "shm/futex.h"

namespace onet {

using match::op_label;

namespace {

// The slot fields matching reads (engine/match.h). Read once, at arrival: the slot is stable
// until the engine completes it.
match::Post post_of(const shm::Slot& s, int rank) {
  return {rank, s.coll, s.dtype, s.redop, s.root, s.seq, s.count, s.scale};
}

}  // namespace

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
  const match::Post mp = post_of(*p.slot, p.rank);
  if (Status v = match::check_seq(mp, g.last_seq[gr]); !v.ok()) {
    complete(p.rank, p.idx, v);
    return;
  }
  g.last_seq[gr] = seq;
  Pending& pd = g.pending[seq];
  if (pd.by_grank.empty()) {
    pd.by_grank.assign(P, Posted{-1, 0, nullptr, 0, 0});
    pd.posts.assign(P, match::Post{});
    pd.t0 = p.t0;
  }
  pd.by_grank[gr] = p;
  pd.posts[gr] = mp;
  pd.arrived++;
  if (Status v = match::validate(mp, P, gr); !v.ok() && pd.poison.empty()) {
    pd.poison = v.msg;
    pd.poison_code = v.code;
    pd.poison_ranks = v.ranks;
  }
  for (int r : g.ranks)
    if (ranks_[r] && ranks_[r]->dead && pd.poison.empty()) {
      pd.poison = op_label(Coll(p.slot->coll), seq) + ": " + ranks_[r]->dead_why;
      pd.poison_code = ranks_[r]->dead_code;
      pd.poison_ranks = {r};
    }
  if (!pd.poison.empty()) {
    fail_pending(g, seq, pd, Status(pd.poison_code, pd.poison, pd.poison_ranks));
    return;
  }
  if (pd.arrived == g.nlocal) {
    if (g.cross) execute_cross(g, seq, pd);
    else execute(g, seq, pd);
  }
}

void Engine::fail_pending(Group& g, uint64_t seq, Pending& pd, Code code, const std::string& msg) {
  fail_pending(g, seq, pd, Status(code, msg));
}

void Engine::fail_pending(Group& g, uint64_t seq, Pending& pd, const Status& st) {
  // Fail the ranks that arrived now; later arrivals meet the poison in on_group_post.
  for (auto& q : pd.by_grank)
    if (q.rank >= 0 && q.slot) {
      complete(q.rank, q.idx, st);
      q.slot = nullptr;
    }
  if (pd.arrived == g.nlocal) g.pending.erase(seq);
}

// Agreement check among the members that arrived (all of them on a single host; the local
// ones when the group spans hosts): every field that must match, named in the error.
Status Engine::disagreement(uint64_t seq, const Pending& pd) const { return match::agree(pd.posts, seq); }

void Engine::execute(Group& g, uint64_t seq, Pending& pd) {
  const int P = int(g.ranks.size());
  const shm::Slot& a = *pd.by_grank[0].slot;
  Coll c = Coll(a.coll);
  if (Status v = disagreement(seq, pd); !v.ok()) {
    fail_pending(g, seq, pd, v);
    return;
  }
  local::Matched m{c, DType(a.dtype), RedOp(a.redop), a.root, a.count, a.scale, seq, {}};
  for (auto& q : pd.by_grank) {
    RankState* r = ranks_[q.rank].get();
    m.parts.push_back({q.slot, shm::data_of(r->seg->base()), shm::head_of(r->seg->base())->data_bytes, q.rank});
    if (q.slot->flags & layout::kFlagCma) {  // single copy (engine/cma.h): read the pid once, then check it
      uint32_t pid = m.parts.back().cma_pid = q.slot->cma_pid;
      if (Status v = cma::check_pid(r->proc, pid, q.rank, op_label(c, seq), r->seg->name(), &r->cma_arena_seen);
          !v.ok()) {
        fail_pending(g, seq, pd, v);  // every rank of the collective hears of it, with the rank named
        return;
      }
    }
  }
  Plan plan;
  m.remote = &plan.remote;
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
  if (Status v = match::validate(post_of(*p.slot, p.rank), int(g.ranks.size()), gr); !v.ok()) {
    complete(p.rank, p.idx, v);
    return;
  }
  int peer = p.slot->root;
  if (g.cross && (p.slot->flags & layout::kFlagCma)) {  // another host's engine cannot reach this rank's memory
    complete(p.rank, p.idx,
             Status(Code::kInvalid,
                    std::string(coll_name(Coll(p.slot->coll))) + " on rank " + std::to_string(p.rank) +
                        " posted a single-copy (cma) request in a group that spans hosts; post it without flag cma",
                    {p.rank}));
    return;
  }
  if (g.cross && p.slot->coll == uint32_t(Coll::send) && !is_local(g.ranks[peer])) {
    start_remote_send(g, p);
    return;
  }
  if (peer >= 0 && ranks_[g.ranks[peer]] && ranks_[g.ranks[peer]]->dead) {
    complete(p.rank, p.idx, Status(ranks_[g.ranks[peer]]->dead_code, ranks_[g.ranks[peer]]->dead_why, {g.ranks[peer]}));
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
    if (rb != SIZE_MAX && (best == sends_.size() || xh_.remote_sends[rb].t0 < sends_[best].t0)) {
      Posted r = rv;
      recvs_.erase(recvs_.begin() + ri);
      deliver_remote(g, r, rb);
      continue;
    }
    if (best == sends_.size()) {
      ri++;
      continue;
    }
    Posted sd = sends_[best];
    sends_.erase(sends_.begin() + best);
    Posted r = rv;
    recvs_.erase(recvs_.begin() + ri);
    int from = g.grank.at(sd.rank);
    if (Status v = match::check_pair(post_of(*sd.slot, sd.rank), post_of(*r.slot, r.rank)); !v.ok()) {
      complete(sd.rank, sd.idx, v);
      complete(r.rank, r.idx, v);
      continue;
    }
    local::Matched m{Coll::send, DType(sd.slot->dtype), RedOp::sum, 0, sd.slot->count, 1.0, 0, {}};
    Plan plan;
    m.remote = &plan.remote;  // either side may post by single copy (engine/cma.h), pid checked first
    Status st;
    for (const Posted* q : {&sd, &r}) {
      RankState* rs = ranks_[q->rank].get();
      m.parts.push_back({q->slot, shm::data_of(rs->seg->base()), shm::head_of(rs->seg->base())->data_bytes, q->rank});
      if (!(q->slot->flags & layout::kFlagCma)) continue;
      uint32_t pid = m.parts.back().cma_pid = q->slot->cma_pid;  // read once, then checked
      std::string label = std::string(coll_name(Coll(q->slot->coll))) + " tag " + std::to_string(q->slot->tag);
      if (st.ok()) st = cma::check_pid(rs->proc, pid, q->rank, label, rs->seg->name(), &rs->cma_arena_seen);
    }
    char *src, *dst;
    if (st.ok()) st = local::resolve(m, 0, {sd.slot->in_off, sd.slot->count}, "send buffer", &src);
    if (st.ok()) st = local::resolve(m, 1, {r.slot->out_off, sd.slot->count}, "recv buffer", &dst);
    plan.dt = m.dt;
    if (st.ok()) {
      plan.copy(src, dst, sd.slot->count);
      st = exec_.run(plan);
    }
    // Read the sender's count before completing it: the rank may reuse the slot at once.
    uint64_t sent = sd.slot->count;
    complete(sd.rank, sd.idx, st);
    complete(r.rank, r.idx, st, from, st.ok() ? sent : 0);
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
      if (now - pd.t0 < limit || pd.arrived == g.nlocal) {
        ++it;
        continue;
      }
      std::string missing, seen, coll = "collective";
      std::vector<int> silent;  // Status::ranks: the local ranks that never arrived
      for (size_t i = 0; i < pd.by_grank.size(); i++) {
        if (pd.by_grank[i].rank < 0) {
          if (is_local(g.ranks[i])) {
            silent.push_back(g.ranks[i]);
            missing += (missing.empty() ? "" : ", ") + std::to_string(g.ranks[i]);
            seen += (seen.empty() ? " (" : "; ") + last_seen(g.ranks[i]);
          }
        } else if (pd.by_grank[i].slot) coll = coll_name(Coll(pd.by_grank[i].slot->coll));
      }
      std::string msg = coll + " #" + std::to_string(it->first) + " in group " + std::to_string(gid) +
                        ": timed out after " + std::to_string(cfg_.timeout_ms / 1000) + " s waiting for rank(s) " +
                        missing + (seen.empty() ? "" : seen + ")") +
                        " — check that every rank makes the same calls, or raise ONET_TIMEOUT";
      for (auto& q : pd.by_grank)
        if (q.rank >= 0 && q.slot) complete(q.rank, q.idx, Status(Code::kTimeout, msg, silent));
      it = g.pending.erase(it);
    }
  }
  auto expire = [&](std::vector<Posted>& v, const char* what) {
    for (size_t i = 0; i < v.size();) {
      if (now - v[i].t0 < limit) {
        i++;
        continue;
      }
      const Group& g = groups_[v[i].slot->group];
      int peer = v[i].slot->root;
      std::vector<int> silent;
      if (peer >= 0 && peer < int(g.ranks.size())) silent.push_back(g.ranks[peer]);
      complete(v[i].rank, v[i].idx,
               Status(Code::kTimeout,
                      std::string(what) + " on rank " + std::to_string(v[i].rank) + " (peer " + std::to_string(peer) +
                          ", tag " + std::to_string(v[i].slot->tag) + ") found no matching peer call within " +
                          std::to_string(cfg_.timeout_ms / 1000) + " s",
                      silent));
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
      for (auto& q : pd.by_grank)
        if (q.rank >= 0 && q.slot) any = &q;
      o << (first ? "" : ",") << "{\"group\":" << gid << ",\"seq\":" << seq << ",\"ageMs\":" << (now - pd.t0) / 1000000
        << ",\"coll\":\"" << (any ? coll_name(Coll(any->slot->coll)) : "collective") << "\",\"arrived\":[";
      bool f2 = true;
      for (auto& q : pd.by_grank)
        if (q.rank >= 0) {
          o << (f2 ? "" : ",") << q.rank;
          f2 = false;
        }
      o << "],\"missing\":[";
      f2 = true;
      for (size_t i = 0; i < pd.by_grank.size(); i++)
        if (pd.by_grank[i].rank < 0 && is_local(g.ranks[i])) {
          o << (f2 ? "" : ",") << g.ranks[i];
          f2 = false;
        }
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
      // Label with a rank that did post (rank 0 may not have arrived yet).
      Coll c = Coll::barrier;
      for (auto& q : pd.by_grank)
        if (q.slot) {
          c = Coll(q.slot->coll);
          break;
        }
      pd.poison = op_label(c, it->first) + ": " + why;
      pd.poison_code = code;
      pd.poison_ranks = {rank};
      // The failed rank's own slots too: harmless if it died, and an aborted (still living) rank must hear.
      for (auto& q : pd.by_grank)
        if (q.rank >= 0 && q.slot) complete(q.rank, q.idx, Status(code, pd.poison, {rank}));
      it = g.pending.erase(it);
    }
  }
  auto drop = [&](std::vector<Posted>& v) {
    for (size_t i = 0; i < v.size();) {
      const Group& g = groups_[v[i].slot->group];
      int peer = v[i].slot->root;
      bool gone = v[i].rank == rank || (peer >= 0 && g.ranks[peer] == rank);
      if (!gone) {
        i++;
        continue;
      }
      if (v[i].rank != rank) complete(v[i].rank, v[i].idx, Status(code, why, {rank}));
      v.erase(v.begin() + i);
    }
  };
  drop(sends_);
  drop(recvs_);
  stats_.on_dropped(__builtin_popcountll(r.known));
  r.known = 0;
}

}  // namespace onet
