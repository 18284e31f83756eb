// The engine's multi-host half: the transport device, where each group's members live, and
// handing a locally matched collective to its group's lane (engine/lane.h), which runs the
// hierarchical algorithm (engine/crosshost.cc) and completes the local slots afterwards.
#include <sstream>

#include "shm/futex.h"

#include "engine/engine.h"

namespace onet {

Status Engine::net_listen(const NetOptions& o, std::string* addr) {
  if (dev_) {
    *addr = dev_->address();
    return Status::Ok();
  }
  Status st;
  if (o.transport == "ucx") {
    net::UcxOptions u;
    u.bind_ip = o.bind_ip;
    u.job_hash = o.job_hash;
    st = net::create_ucx_device(u, &dev_);
  } else if (o.transport == "tcp") {
    net::TcpOptions t;
    t.bind_ip = o.bind_ip;
    t.port = o.port;
    t.streams = o.streams;
    t.checksum = o.checksum;
    t.zerocopy_bytes = o.zerocopy_bytes;
    t.job_hash = o.job_hash;
    t.heartbeat_ms = o.heartbeat_ms;
    t.test_corrupt_every_n_frames = o.test_corrupt_every;
    st = net::create_tcp_device(t, &dev_);
  } else {
    return {Code::kInvalid, "ONET_TRANSPORT=" + o.transport + " is not a transport; use tcp, ucx or auto"};
  }
  if (st.ok()) *addr = dev_->address();
  return st;
}

Status Engine::net_connect(int me, const std::vector<std::string>& addrs, const std::vector<int>& host_of_rank,
                           int64_t timeout_ms) {
  if (!dev_) return {Code::kInvalid, "net_connect before net_listen"};
  if (int(host_of_rank.size()) != cfg_.world)
    return {Code::kInvalid, "host map lists " + std::to_string(host_of_rank.size()) + " ranks for world " + std::to_string(cfg_.world)};
  Status st = dev_->connect(me, addrs, net::now_ms() + timeout_ms);
  if (!st.ok()) return st;
  post_cmd([this, me, host_of_rank] {
    host_of_rank_ = host_of_rank;
    my_host_ = me;
    for (auto& [id, g] : groups_) layout_group(g);
  });
  return Status::Ok();
}

void Engine::set_algo_rules(std::vector<AlgoRule> rules) {
  std::lock_guard<std::mutex> g(rules_mu_);
  rules_ = rules.empty() ? default_algo_rules() : std::move(rules);
}

std::string Engine::links_json() {
  std::ostringstream o;
  o << "[";
  if (dev_)
    for (int p = 0, first = 1; p < dev_->size(); p++) {
      if (p == dev_->rank()) continue;
      net::LinkStats s = dev_->stats(p);
      o << (first ? "" : ",") << "{\"peer\":" << p << ",\"bytesSent\":" << s.bytes_sent << ",\"bytesReceived\":" << s.bytes_received
        << ",\"messagesSent\":" << s.messages_sent << ",\"messagesReceived\":" << s.messages_received
        << ",\"checksumFailures\":" << s.checksum_failures << ",\"retransmits\":" << s.retransmits << "}";
      first = 0;
    }
  o << "]";
  return o.str();
}

// Hosts are ordered by their first member in the group's (sorted) rank list, so every host
// computes the same order without talking.
void Engine::layout_group(Group& g) {
  g.hosts.clear();
  g.host_members.clear();
  g.nlocal = 0;
  g.my_hidx = -1;
  if (host_of_rank_.empty()) {
    g.nlocal = int(g.ranks.size());
    g.cross = false;
    return;
  }
  std::map<int, int> hidx;
  for (size_t i = 0; i < g.ranks.size(); i++) {
    int h = host_of_rank_[g.ranks[i]];
    auto it = hidx.find(h);
    if (it == hidx.end()) {
      it = hidx.emplace(h, int(g.hosts.size())).first;
      g.hosts.push_back(h);
      g.host_members.emplace_back();
    }
    g.host_members[it->second].push_back(int(i));
    if (h == my_host_) g.nlocal++;
  }
  if (hidx.count(my_host_)) g.my_hidx = hidx[my_host_];
  g.cross = g.hosts.size() > 1;
  if (g.cross && !g.lane) g.lane = std::make_shared<Lane>();
}

void Engine::execute_cross(Group& g, uint64_t seq, Pending& pd) {
  std::string diff = disagreement(g, seq, pd);
  if (!diff.empty()) {
    fail_pending(g, seq, pd, Code::kMismatch, diff + " — every rank must make the same collective call in the same order");
    return;
  }
  auto job = std::make_shared<CrossJob>();
  const shm::Slot* a = nullptr;
  for (size_t i = 0; i < pd.by_grank.size(); i++) {
    const Posted& q = pd.by_grank[i];
    if (q.rank < 0) continue;
    if (!a) a = q.slot;
    RankState* r = ranks_[q.rank].get();
    job->local.push_back({q.slot, shm::data_of(r->seg->base()), shm::head_of(r->seg->base())->data_bytes, q.rank, int(i), q.idx});
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
  for (int h : g.hosts) c.pairs.push_back(h == my_host_ ? nullptr : dev_->pair(h));
  c.deadline_ms = net::now_ms() + cfg_.timeout_ms;
  c.tag = (uint64_t(g.id & 0xFFFF) << 48) | ((seq & 0xFFFFFFFFull) << 16);
  {
    std::lock_guard<std::mutex> lk(rules_mu_);
    job->rules = rules_;
  }
  g.pending.erase(seq);  // pd is gone from here on; the lane owns the request now
  g.lane->push([this, job] {
    Status st = run_cross(*job);
    if (!st.ok()) {  // the transport may still write into the job's staging: keep it
      std::lock_guard<std::mutex> lk(rules_mu_);
      failed_jobs_.push_back(job);
    }
    post_cmd([this, job, st] {
      for (auto& p : job->local) complete(p.rank, p.idx, st.code, st.msg);
    });
  });
}

// A send or recv whose peer is on another host goes straight onto the transport; the tag
// carries (group, src, dst, user tag), and the transport keeps messages of one tag in order,
// which is torch's ordering rule for point-to-point between a pair.
void Engine::start_remote_p2p(Group& g, const Posted& p) {
  const shm::Slot* s = p.slot;
  bool is_send = s->coll == uint32_t(Coll::send);
  int me = g.grank.at(p.rank), peer = s->root;
  int src = is_send ? me : peer, dst = is_send ? peer : me;
  uint64_t tag = (1ull << 63) | (uint64_t(g.id & 0x7FFF) << 48) | (uint64_t(src & 0xFFF) << 36) |
                 (uint64_t(dst & 0xFFF) << 24) | (s->tag & 0xFFFFFF);
  std::string label = std::string(is_send ? "send" : "recv") + " between rank " + std::to_string(g.ranks[src]) +
                      " and rank " + std::to_string(g.ranks[dst]) + " (another host)";
  RankState* r = ranks_[p.rank].get();
  size_t es = dtype_size(DType(s->dtype)), data_bytes = shm::head_of(r->seg->base())->data_bytes;
  uint64_t off = is_send ? s->in_off : s->out_off, bytes = s->count * es;
  if (off > data_bytes || bytes > data_bytes - off) {
    complete(p.rank, p.idx, Code::kInvalid, label + ": buffer runs past the arena of rank " + std::to_string(p.rank));
    return;
  }
  char* ptr = shm::data_of(r->seg->base()) + off;
  net::Pair* pair = dev_->pair(host_of_rank_[g.ranks[peer]]);
  auto req = is_send ? pair->isend(ptr, bytes, tag) : pair->irecv(ptr, bytes, tag);
  net_p2p_.push_back({std::move(req), p.rank, p.idx, p.t0, g.ranks[src], s->count, !is_send, label});
}

bool Engine::poll_net() {
  bool did = false;
  int64_t now = shm::now_ns(), limit = cfg_.timeout_ms * 1'000'000;
  for (size_t i = 0; i < net_p2p_.size();) {
    NetP2p& n = net_p2p_[i];
    Status st;
    if (n.req->test()) st = n.req->wait(0);
    else if (now - n.t0 > limit)
      st = {Code::kTimeout, n.label + ": no matching call within " + std::to_string(cfg_.timeout_ms / 1000) + " s"};
    else { i++; continue; }
    if (!st.ok() && st.msg.find(n.label) == std::string::npos) st.msg = n.label + ": " + st.msg;
    complete(n.rank, n.idx, st.code, st.msg, n.recv ? n.src : -1, n.recv && st.ok() ? n.count : 0);
    // A request that timed out is still owned by the transport: keep it until close().
    if (st.code == Code::kTimeout && !n.req->test()) net_stale_.push_back(std::move(n.req));
    net_p2p_.erase(net_p2p_.begin() + i);
    did = true;
  }
  return did;
}

}  // namespace onet
