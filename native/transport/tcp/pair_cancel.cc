// TCP pair, giving up on a tag range (Pair::cancel, transport.h): an aborted collective's
// receives complete with the reason and its messages are dropped, now and when they arrive
// (pair_recv.cc consults cancelled() for every new message).
#include <iterator>

#include "transport/tcp/device.h"

namespace onet::net::tcp {

// Drops what an aborted collective left on this pair. A message that is still arriving keeps
// its entry, marked discard, until its last chunk (so per-pair ordering and the "arrived after
// it completed" check stay intact); a chunk already being read into a receive's buffer finishes
// there, which is why a failed collective's staging outlives it (Engine::failed_jobs_).
void TcpPair::cancel(uint64_t lo, uint64_t hi, const Status& why) {
  std::lock_guard<std::mutex> g(mu_);
  cancelled_.add(lo, hi, why);
  for (auto t = tags_.begin(); t != tags_.end();) {
    if (t->first < lo || t->first > hi) {
      ++t;
      continue;
    }
    for (auto& r : t->second.posted) r->complete(why);
    for (uint64_t seq : t->second.unexpected) {
      auto m = msgs_.find(seq);
      if (m != msgs_.end()) m->second.discard = true;  // erased below
    }
    t = tags_.erase(t);
  }
  for (auto it = msgs_.begin(); it != msgs_.end();) {
    InMsg& m = it->second;
    if (m.tag < lo || m.tag > hi) {
      ++it;
      continue;
    }
    if (m.recv) m.recv->complete(why);
    m.recv.reset();
    m.discard = true;
    it = m.complete && it->first < next_elig_ ? msgs_.erase(it) : std::next(it);
  }
}

}  // namespace onet::net::tcp
