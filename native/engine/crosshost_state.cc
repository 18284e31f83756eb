// The cross-host state's own operations (crosshost_state.h): nothing here completes a slot or
// touches a group; the engine does that with what these return.
#include "engine/crosshost_state.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

namespace onet {

namespace {
constexpr size_t kMaxAborted = 1024;  // remembered (group, seq) pairs; the oldest go first
}  // namespace

Status CrossHostState::listen(const net::DeviceOptions& o, std::string* addr) {
  if (dev) {
    *addr = dev->address();
    return Status::Ok();
  }
  Status st = net::make_device(o, &dev);
  if (st.ok()) *addr = dev->address();
  return st;
}

// A transport failure names a host ("host 1 (10.0.0.2:4000) is unreachable ..."); users think in
// ranks, so name the ranks that lived there: "; ranks 2, 3 (host 1) are lost".
std::string CrossHostState::lost_ranks(Status& st) const {
  std::vector<int> hosts = std::move(st.ranks);  // the transport names hosts (transport.h)
  st.ranks.clear();
  std::string out;
  for (int h : hosts) {
    std::string list;
    for (size_t r = 0; r < host_of_rank.size(); r++)
      if (host_of_rank[r] == h) {
        list += (list.empty() ? "" : ", ") + std::to_string(r);
        st.ranks.push_back(int(r));
      }
    if (!list.empty() && st.code == Code::kAborted)
      out += "; ranks " + list + " (host " + std::to_string(h) + ") are lost";
  }
  std::sort(st.ranks.begin(), st.ranks.end());
  return out;
}

std::string CrossHostState::links_json() const {
  std::ostringstream o;
  o << "[";
  if (dev)
    for (int p = 0, first = 1; p < dev->size(); p++) {
      if (p == dev->rank()) continue;
      net::LinkStats s = dev->stats(p);
      o << (first ? "" : ",") << "{\"peer\":" << p << ",\"bytesSent\":" << s.bytes_sent
        << ",\"bytesReceived\":" << s.bytes_received << ",\"messagesSent\":" << s.messages_sent
        << ",\"messagesReceived\":" << s.messages_received << ",\"checksumFailures\":" << s.checksum_failures
        << ",\"retransmits\":" << s.retransmits << "}";
      first = 0;
    }
  o << "]";
  return o.str();
}

void CrossHostState::set_rules(std::vector<AlgoRule> r) {
  std::lock_guard<std::mutex> g(rules_mu);
  rules = r.empty() ? default_algo_rules() : std::move(r);
}

std::vector<AlgoRule> CrossHostState::rules_now() {
  std::lock_guard<std::mutex> g(rules_mu);
  return rules;
}

void CrossHostState::keep_failed(std::shared_ptr<CrossJob> j) {
  std::lock_guard<std::mutex> g(rules_mu);
  failed_jobs.push_back(std::move(j));
}

std::shared_ptr<Lane> CrossHostState::lane(uint32_t group) {
  auto& l = lanes[group];
  if (!l) l = std::make_shared<Lane>();
  return l;
}

void CrossHostState::post_mailboxes() {
  for (int h = 0; h < dev->size(); h++) {
    if (h == my_host) continue;
    Mailbox& m = mailboxes[h];
    m.env_req = dev->pair(h)->irecv(&m.env, sizeof(Envelope), kTagEnvelope);
  }
}

bool CrossHostState::receive_mailboxes(int64_t now) {
  bool arrived = false;
  for (auto& [h, m] : mailboxes) {
    if (m.failed) continue;
    for (;;) {
      if (!m.pay_req) {
        if (!m.env_req->test()) break;
        if (!m.env_req->wait(0).ok()) {  // the peer is gone
          m.failed = true;
          break;
        }
        m.pay.assign(m.env.bytes, 0);
        m.pay_req = dev->pair(h)->irecv(m.pay.data(), m.env.bytes, kTagPayload);
      }
      if (!m.pay_req->test()) break;
      if (!m.pay_req->wait(0).ok()) {
        m.failed = true;
        break;
      }
      remote_sends.push_back({m.env, std::move(m.pay), now});
      m.pay_req.reset();
      m.env_req = dev->pair(h)->irecv(&m.env, sizeof(Envelope), kTagEnvelope);
      arrived = true;
    }
  }
  return arrived;
}

void CrossHostState::post_abort_boxes() {
  for (int h = 0; h < dev->size(); h++) {
    if (h == my_host) continue;
    AbortBox& b = abort_boxes[h];
    b.n = std::make_unique<AbortNotice>();
    b.req = dev->pair(h)->irecv(b.n.get(), sizeof(AbortNotice), kTagAbort);
  }
}

bool CrossHostState::remember_abort(uint32_t group, uint64_t seq, Aborted a) {
  std::lock_guard<std::mutex> lk(abort_mu);
  if (!aborted.emplace(std::make_pair(group, seq), std::move(a)).second) return false;
  while (aborted.size() > kMaxAborted) aborted.erase(aborted.begin());
  return true;
}

bool CrossHostState::find_abort(uint32_t group, uint64_t seq, Aborted* out) {
  std::lock_guard<std::mutex> lk(abort_mu);
  auto it = aborted.find({group, seq});
  if (it == aborted.end()) return false;
  *out = it->second;
  return true;
}

void CrossHostState::cancel_everywhere(uint64_t lo, uint64_t hi, const Status& why) {
  for (int h = 0; h < dev->size(); h++)
    if (h != my_host) dev->pair(h)->cancel(lo, hi, why);
}

void CrossHostState::close_device() {
  if (dev) dev->close();
}

void CrossHostState::clear() {
  lanes.clear();  // joins each lane once its queue is drained (its requests failed with the device)
  net_p2p.clear();
  mailboxes.clear();
  abort_boxes.clear();
  net_stale.clear();
  {
    std::lock_guard<std::mutex> z(z_mu);
    residuals.clear();  // error feedback ends with the engine
  }
  std::lock_guard<std::mutex> g(rules_mu);
  failed_jobs.clear();
}

}  // namespace onet
