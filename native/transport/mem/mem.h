// In-process transport: devices of one world share a Hub of directed channels, one per
// (src, dst). Matching is rendezvous: a send stays pending until its receive is posted, and
// the receiver's thread copies straight from the sender's buffer. That is stricter than any
// real backend (nothing is ever buffered eagerly), so an algorithm that waits on a send
// before posting the receive its peer needs deadlocks here instead of passing by luck.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "transport/transport.h"

namespace onet::net::mem {

struct Hub;
struct Channel;

// One posted send or receive. Owned by the caller's unique_ptr; the channel's queues hold
// raw pointers that the destructor removes, so an abandoned request (deadline passed) never
// touches its buffer afterwards.
class MemRequest final : public Request {
 public:
  MemRequest(std::shared_ptr<Hub> hub, Channel* ch, bool is_send, void* buf, size_t bytes, uint64_t tag);
  ~MemRequest() override;
  bool test() override;
  Status wait(int64_t deadline_ms) override;

  // Fields below are guarded by the channel's mutex.
  bool is_send;
  void* buf;
  size_t bytes;
  uint64_t tag;
  bool queued = false;
  bool done = false;
  Status status;

 private:
  std::shared_ptr<Hub> hub_;
  Channel* ch_;
};

// Messages from src to dst, matched FIFO per tag (MPI's non-overtaking rule).
struct Channel {
  int src = 0, dst = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<uint64_t, std::deque<MemRequest*>> sends, recvs;
  Code closed = Code::kOk;  // kClosed / kAborted once either end closed
  int closed_by = -1;
  std::atomic<uint64_t> bytes = 0, messages = 0;

  // Queue `r` or match it with the oldest opposite request of its tag; completes both.
  void post(MemRequest* r);
  // Fail every pending request (device close).
  void fail_all(int by);
};

struct Hub {
  int size = 0;
  std::vector<std::unique_ptr<Channel>> ch;  // ch[src * size + dst]
  Channel* get(int src, int dst) { return ch[size_t(src) * size + dst].get(); }
};

}  // namespace onet::net::mem
