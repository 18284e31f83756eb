// The engine's multi-host half: the transport device, where each group's members live, and
// handing a locally matched collective to its group's lane (engine/lane.h), which runs the
// hierarchical algorithm (engine/crosshost.cc) and completes the local slots afterwards.
#include <cstring>
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
    u.port = o.port;
    u.job_hash = o.job_hash;
    u.heartbeat_ms = o.heartbeat_ms;
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
    t.tls_cert = o.tls_cert;
    t.tls_key = o.tls_key;
    t.tls_ca = o.tls_ca;
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
    post_mailboxes();
    post_abort_boxes();
  });
  return Status::Ok();
}

// A transport failure names a host ("host 1 (10.0.0.2:4000) is unreachable ..."); users think in
// ranks, so name the ranks that lived there: "; ranks 2, 3 (host 1) are lost".
std::string Engine::lost_ranks(const std::string& msg) const {
  size_t at = msg.find("host ");
  if (at == std::string::npos || at + 5 >= msg.size() || !isdigit(uint8_t(msg[at + 5]))) return "";
  int h = std::atoi(msg.c_str() + at + 5);
  std::string list;
  for (size_t r = 0; r < host_of_rank_.size(); r++)
    if (host_of_rank_[r] == h) list += (list.empty() ? "" : ", ") + std::to_string(r);
  return list.empty() ? "" : "; ranks " + list + " (host " + std::to_string(h) + ") are lost";
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

// Cross-host point-to-point (see NetP2p in engine.h). Envelopes and payloads travel on two
// fixed tags per host pair; the transport keeps each tag in order, so the k-th payload
// follows the k-th envelope.
namespace {
constexpr uint64_t kTagEnvelope = (1ull << 63) | (1ull << 62) | 1;
constexpr uint64_t kTagPayload = (1ull << 63) | (1ull << 62) | 2;
}  // namespace

void Engine::post_mailboxes() {
  for (int h = 0; h < dev_->size(); h++) {
    if (h == my_host_) continue;
    Mailbox& m = mailboxes_[h];
    m.env_req = dev_->pair(h)->irecv(&m.env, sizeof(Envelope), kTagEnvelope);
  }
}

void Engine::start_remote_send(Group& g, const Posted& p) {
  const shm::Slot* s = p.slot;
  int me = g.grank.at(p.rank), peer = s->root;
  std::string label = "send from rank " + std::to_string(p.rank) + " to rank " + std::to_string(g.ranks[peer]) + " (another host)";
  RankState* r = ranks_[p.rank].get();
  size_t es = dtype_size(DType(s->dtype)), data_bytes = shm::head_of(r->seg->base())->data_bytes;
  uint64_t bytes = s->count * es;
  if (s->in_off > data_bytes || bytes > data_bytes - s->in_off) {
    complete(p.rank, p.idx, Code::kInvalid, label + ": buffer runs past the arena of rank " + std::to_string(p.rank));
    return;
  }
  auto env = std::make_unique<Envelope>(Envelope{g.id, me, peer, s->dtype, s->tag, s->count, bytes});
  net::Pair* pair = dev_->pair(host_of_rank_[g.ranks[peer]]);
  NetP2p n;
  n.req = pair->isend(env.get(), sizeof(Envelope), kTagEnvelope);
  n.req2 = pair->isend(shm::data_of(r->seg->base()) + s->in_off, bytes, kTagPayload);
  n.env = std::move(env);
  n.rank = p.rank;
  n.idx = p.idx;
  n.t0 = p.t0;
  n.label = label;
  net_p2p_.push_back(std::move(n));
}

size_t Engine::find_remote_send(const Group& g, const Posted& rv, int me) const {
  for (size_t i = 0; i < remote_sends_.size(); i++) {
    const Envelope& e = remote_sends_[i].env;
    if (e.group != g.id || e.dst != me || e.tag != rv.slot->tag) continue;
    if (rv.slot->root != -1 && rv.slot->root != e.src) continue;
    return i;
  }
  return SIZE_MAX;
}

void Engine::deliver_remote(const Group& g, const Posted& r, size_t idx) {
  RemoteSend rs = std::move(remote_sends_[idx]);
  remote_sends_.erase(remote_sends_.begin() + idx);
  const Envelope& e = rs.env;
  std::string label = "send/recv between rank " + std::to_string(g.ranks[e.src]) + " (another host) and rank " + std::to_string(r.rank);
  if (e.dtype != r.slot->dtype) {
    complete(r.rank, r.idx, Code::kMismatch, label + ": dtype differs (" + dtype_name(DType(e.dtype)) + " sent, " +
                                                 dtype_name(DType(r.slot->dtype)) + " expected)");
    return;
  }
  if (e.count > r.slot->count) {
    complete(r.rank, r.idx, Code::kInvalid, label + ": " + std::to_string(e.count) + " elements sent into a buffer of " +
                                                std::to_string(r.slot->count) + "; post a larger recv");
    return;
  }
  RankState* rr = ranks_[r.rank].get();
  size_t data_bytes = shm::head_of(rr->seg->base())->data_bytes;
  if (r.slot->out_off > data_bytes || e.bytes > data_bytes - r.slot->out_off) {
    complete(r.rank, r.idx, Code::kInvalid, label + ": recv buffer runs past the arena of rank " + std::to_string(r.rank));
    return;
  }
  memcpy(shm::data_of(rr->seg->base()) + r.slot->out_off, rs.data.data(), e.bytes);
  complete(r.rank, r.idx, Code::kOk, "", e.src, e.count);
}

bool Engine::poll_net() {
  bool did = poll_aborts(), arrived = false;
  int64_t now = shm::now_ns(), limit = cfg_.timeout_ms * 1'000'000;
  for (size_t i = 0; i < net_p2p_.size();) {
    NetP2p& n = net_p2p_[i];
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
    if (st.code == Code::kAborted) st.msg += lost_ranks(st.msg);
    complete(n.rank, n.idx, st.code, st.msg);
    if (st.code == Code::kTimeout) {  // still owned by the transport: keep until close()
      net_stale_.push_back(std::move(n.req));
      net_stale_.push_back(std::move(n.req2));
    }
    net_p2p_.erase(net_p2p_.begin() + i);
    did = true;
  }
  for (auto& [h, m] : mailboxes_) {
    if (m.failed) continue;
    for (;;) {
      if (!m.pay_req) {
        if (!m.env_req->test()) break;
        if (!m.env_req->wait(0).ok()) { m.failed = true; break; }  // the peer is gone
        m.pay.assign(m.env.bytes, 0);
        m.pay_req = dev_->pair(h)->irecv(m.pay.data(), m.env.bytes, kTagPayload);
      }
      if (!m.pay_req->test()) break;
      if (!m.pay_req->wait(0).ok()) { m.failed = true; break; }
      remote_sends_.push_back({m.env, std::move(m.pay), now});
      m.pay_req.reset();
      m.env_req = dev_->pair(h)->irecv(&m.env, sizeof(Envelope), kTagEnvelope);
      arrived = did = true;
    }
  }
  // Remote sends nobody received within the deadline are dropped (their senders completed).
  while (!remote_sends_.empty() && now - remote_sends_.front().t0 > limit) remote_sends_.pop_front();
  if (arrived) try_match_p2p();
  return did;
}

}  // namespace onet
