// The engine's multi-host half: the transport device, where each group's members live, and
// handing a locally matched collective to its group's lane (engine/lane.h), which runs the
// hierarchical algorithm (algo/hier/run.cc) and completes the local slots afterwards.
#include <cstring>
#include <sstream>

#include "shm/futex.h"

#include "engine/engine.h"

namespace onet {

Status Engine::net_listen(const NetOptions& o, std::string* addr) { return xh_.listen(o, addr); }

Status Engine::net_connect(int me, const std::vector<std::string>& addrs, const std::vector<int>& host_of_rank,
                           int64_t timeout_ms) {
  if (!xh_.dev) return {Code::kInvalid, "net_connect before net_listen"};
  if (int(host_of_rank.size()) != cfg_.world)
    return {Code::kInvalid,
            "host map lists " + std::to_string(host_of_rank.size()) + " ranks for world " + std::to_string(cfg_.world)};
  Status st = xh_.dev->connect(me, addrs, net::now_ms() + timeout_ms);
  if (!st.ok()) return st;
  post_cmd([this, me, host_of_rank] {
    xh_.host_of_rank = host_of_rank;
    xh_.my_host = me;
    for (auto& [id, g] : groups_) layout_group(g);
    xh_.post_mailboxes();
    xh_.post_abort_boxes();
  });
  return Status::Ok();
}

void Engine::set_algo_rules(std::vector<AlgoRule> rules) { xh_.set_rules(std::move(rules)); }

std::string Engine::links_json() { return xh_.links_json(); }

// Hosts are ordered by their first member in the group's (sorted) rank list, so every host
// computes the same order without talking.
void Engine::layout_group(Group& g) {
  g.hosts.clear();
  g.host_members.clear();
  g.nlocal = 0;
  g.my_hidx = -1;
  if (xh_.host_of_rank.empty()) {
    g.nlocal = int(g.ranks.size());
    g.cross = false;
    return;
  }
  std::map<int, int> hidx;
  for (size_t i = 0; i < g.ranks.size(); i++) {
    int h = xh_.host_of_rank[g.ranks[i]];
    auto it = hidx.find(h);
    if (it == hidx.end()) {
      it = hidx.emplace(h, int(g.hosts.size())).first;
      g.hosts.push_back(h);
      g.host_members.emplace_back();
    }
    g.host_members[it->second].push_back(int(i));
    if (h == xh_.my_host) g.nlocal++;
  }
  if (hidx.count(xh_.my_host)) g.my_hidx = hidx[xh_.my_host];
  g.cross = g.hosts.size() > 1;
  if (g.cross && !g.lane) g.lane = xh_.lane(g.id);
}

void Engine::execute_cross(Group& g, uint64_t seq, Pending& pd) {
  if (Status v = disagreement(seq, pd); !v.ok()) {
    fail_pending(g, seq, pd, v);
    return;
  }
  auto job = std::make_shared<CrossJob>();
  const shm::Slot* a = nullptr;
  for (size_t i = 0; i < pd.by_grank.size(); i++) {
    const Posted& q = pd.by_grank[i];
    if (q.rank < 0) continue;
    if (!a) a = q.slot;
    if (q.slot->flags & layout::kFlagCma) {  // single copy is for single-host groups (docs/performance.md)
      std::string why = match::op_label(Coll(q.slot->coll), seq) + ": rank " + std::to_string(q.rank) +
                        " posted a single-copy (cma) request in a group that spans hosts";
      fail_pending(g, seq, pd, Status(Code::kInvalid, why, {q.rank}));
      return;
    }
    RankState* r = ranks_[q.rank].get();
    job->local.push_back(
        {q.slot, shm::data_of(r->seg->base()), shm::head_of(r->seg->base())->data_bytes, q.rank, int(i), q.idx});
  }
  job->coll = Coll(a->coll);
  job->dt = DType(a->dtype);
  job->op = RedOp(a->redop);
  job->root = a->root;
  job->count = a->count;
  job->scale = a->scale;
  job->seq = seq;
  job->group = g.id;
  job->P = int(g.ranks.size());
  job->host_members = g.host_members;
  job->host_ids = g.hosts;
  net::Comm& c = job->comm;
  c.rank = g.my_hidx;
  c.size = int(g.hosts.size());
  for (int h : g.hosts) c.pairs.push_back(h == xh_.my_host ? nullptr : xh_.dev->pair(h));
  c.deadline_ms = net::now_ms() + cfg_.timeout_ms;
  c.tag = (uint64_t(g.id & 0xFFFF) << 48) | ((seq & 0xFFFFFFFFull) << 16);
  job->rules = xh_.rules_now();
  if (job->coll == Coll::allreduce) {  // compression (docs/compression.md): every local rank asks alike
    Status z = xh_.z_error.empty() ? Status::Ok() : Status{Code::kInvalid, xh_.z_error};
    for (auto& q : pd.by_grank)
      if (z.ok() && q.rank >= 0 && (q.slot->flags >> 8) != (a->flags >> 8))
        z = {Code::kMismatch, "allreduce #" + std::to_string(seq) + ": ranks ask for different compression or " +
                                  "error-feedback keys (rank " + std::to_string(q.rank) + " differs from the first)"};
    if (!z.ok()) return fail_pending(g, seq, pd, z);
    xh_.z_choose(g.id, a->flags, job.get());
  }
  std::vector<Stats::Arrival> arr;  // read now: ranks reuse slots as soon as they complete
  for (auto& q : pd.by_grank)
    if (q.rank >= 0) arr.push_back({q.rank, q.t0, q.slot->in_off, q.slot->out_off});
  g.pending.erase(seq);  // pd is gone from here on; the lane owns the request now
  int64_t t0 = shm::now_ns();
  // The lane runs the queue's front item, fused with small allreduces queued behind it
  // (Engine::drain_cross in engine/fusion.cc), and completes the local slots afterwards.
  if (!g.xq) g.xq = std::make_shared<CrossQueue>();
  {
    std::lock_guard<std::mutex> lk(g.xq->mu);
    g.xq->items.push_back({job, t0, std::move(arr)});
  }
  g.lane->push([this, q = g.xq] { drain_cross(*q); });
}

// Cross-host point-to-point (see NetP2p in engine/crosshost_state.h).
void Engine::start_remote_send(Group& g, const Posted& p) {
  const shm::Slot* s = p.slot;
  int me = g.grank.at(p.rank), peer = s->root;
  std::string label =
      "send from rank " + std::to_string(p.rank) + " to rank " + std::to_string(g.ranks[peer]) + " (another host)";
  RankState* r = ranks_[p.rank].get();
  size_t es = dtype_size(DType(s->dtype)), data_bytes = shm::head_of(r->seg->base())->data_bytes;
  uint64_t bytes = s->count * es;
  if (s->in_off > data_bytes || bytes > data_bytes - s->in_off) {
    complete(p.rank, p.idx, Code::kInvalid, label + ": buffer runs past the arena of rank " + std::to_string(p.rank));
    return;
  }
  auto env = std::make_unique<Envelope>(Envelope{g.id, me, peer, s->dtype, s->tag, s->count, bytes});
  net::Pair* pair = xh_.dev->pair(xh_.host_of_rank[g.ranks[peer]]);
  NetP2p n;
  n.req = pair->isend(env.get(), sizeof(Envelope), CrossHostState::kTagEnvelope);
  n.req2 = pair->isend(shm::data_of(r->seg->base()) + s->in_off, bytes, CrossHostState::kTagPayload);
  n.env = std::move(env);
  n.rank = p.rank;
  n.idx = p.idx;
  n.t0 = p.t0;
  n.label = label;
  xh_.net_p2p.push_back(std::move(n));
}

size_t Engine::find_remote_send(const Group& g, const Posted& rv, int me) const {
  for (size_t i = 0; i < xh_.remote_sends.size(); i++) {
    const Envelope& e = xh_.remote_sends[i].env;
    if (e.group != g.id || e.dst != me || e.tag != rv.slot->tag) continue;
    if (rv.slot->root != -1 && rv.slot->root != e.src) continue;
    return i;
  }
  return SIZE_MAX;
}

void Engine::deliver_remote(const Group& g, const Posted& r, size_t idx) {
  RemoteSend rs = std::move(xh_.remote_sends[idx]);
  xh_.remote_sends.erase(xh_.remote_sends.begin() + idx);
  const Envelope& e = rs.env;
  std::string label =
      "send/recv between rank " + std::to_string(g.ranks[e.src]) + " (another host) and rank " + std::to_string(r.rank);
  if (e.dtype != r.slot->dtype) {
    complete(r.rank, r.idx, Code::kMismatch,
             label + ": dtype differs (" + dtype_name(DType(e.dtype)) + " sent, " + dtype_name(DType(r.slot->dtype)) +
                 " expected)");
    return;
  }
  if (e.count > r.slot->count) {
    complete(r.rank, r.idx, Code::kInvalid,
             label + ": " + std::to_string(e.count) + " elements sent into a buffer of " +
                 std::to_string(r.slot->count) + "; post a larger recv");
    return;
  }
  RankState* rr = ranks_[r.rank].get();
  size_t data_bytes = shm::head_of(rr->seg->base())->data_bytes;
  if (r.slot->out_off > data_bytes || e.bytes > data_bytes - r.slot->out_off) {
    complete(r.rank, r.idx, Code::kInvalid,
             label + ": recv buffer runs past the arena of rank " + std::to_string(r.rank));
    return;
  }
  memcpy(shm::data_of(rr->seg->base()) + r.slot->out_off, rs.data.data(), e.bytes);
  complete(r.rank, r.idx, Code::kOk, "", e.src, e.count);
}

bool Engine::poll_net() {
  bool did = poll_aborts(), arrived = false;
  int64_t now = shm::now_ns(), limit = cfg_.timeout_ms * 1'000'000;
  for (size_t i = 0; i < xh_.net_p2p.size();) {
    NetP2p& n = xh_.net_p2p[i];
    Status st;
    if (n.req->test() && n.req2->test()) {
      st = n.req->wait(0);
      if (st.ok()) st = n.req2->wait(0);
    } else if (now - n.t0 > limit) {
      st = {Code::kTimeout, n.label + ": not delivered within " + std::to_string(cfg_.timeout_ms / 1000) + " s"};
    } else {
      i++;
      continue;
    }
    if (!st.ok() && st.msg.find(n.label) == std::string::npos) st.msg = n.label + ": " + st.msg;
    if (!st.ok()) st.msg += xh_.lost_ranks(st);
    complete(n.rank, n.idx, st);
    if (st.code == Code::kTimeout) {  // still owned by the transport: keep until close()
      xh_.net_stale.push_back(std::move(n.req));
      xh_.net_stale.push_back(std::move(n.req2));
    }
    xh_.net_p2p.erase(xh_.net_p2p.begin() + i);
    did = true;
  }
  if (xh_.receive_mailboxes(now)) arrived = did = true;
  // Remote sends nobody received within the deadline are dropped (their senders completed).
  while (!xh_.remote_sends.empty() && now - xh_.remote_sends.front().t0 > limit) xh_.remote_sends.pop_front();
  if (arrived) try_match_p2p();
  return did;
}

}  // namespace onet
