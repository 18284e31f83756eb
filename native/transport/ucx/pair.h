// UCX pair: tagged sends and receives to one peer host through the worker the device keeps for
// it, liveness on the side-channel socket (common/liveness.h), and cancelling an aborted
// collective's tags. Every UCP call runs on the device's progress thread. pair.cc (submit,
// post, completions, failure, heartbeats), pair_cancel.cc.
#pragma once
#include <ucp/api/ucp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "transport/common/cancelled.h"
#include "transport/common/liveness.h"
#include "transport/common/request.h"
#include "transport/transport.h"

namespace onet::net::ucx {

class UcxDevice;
class UcxPair;

// While any range is cancelled, the progress thread drops that range's newly arrived messages
// this often (UCP keeps an unmatched message until someone receives it).
constexpr int kDrainMs = 100;

struct Op {
  bool send = false;
  UcxPair* pair = nullptr;
  std::shared_ptr<ReqState> st;
  void* buf = nullptr;
  size_t bytes = 0;
  uint64_t tag = 0;  // the caller's tag
  void* ucp_req = nullptr;
};

class UcxPair final : public Pair {
 public:
  UcxPair(UcxDevice* dev, int peer, std::string addr, int side_fd, int heartbeat_ms)
      : dev_(dev),
        peer_(peer),
        name_(std::make_shared<const std::string>("host " + std::to_string(peer) + " (" + addr + ")")),
        side_fd_(side_fd),
        live_(heartbeat_ms, now_ms()) {}
  int peer() const override { return peer_; }
  std::unique_ptr<Request> isend(const void* buf, size_t bytes, uint64_t tag) override;
  std::unique_ptr<Request> irecv(void* buf, size_t bytes, uint64_t tag) override;
  LinkStats stats() const;
  const std::string& name() const { return *name_; }
  void done(Op* op, ucs_status_t s, size_t len);  // progress thread, from UCP callbacks
  // Progress thread: a heartbeat byte on the side channel when due; fail the pair when the peer
  // has been silent too long.
  void heartbeat(int64_t now);
  void on_side_channel();                              // progress thread: readable side channel
  void on_ep_error(ucs_status_t s) { ep_error_ = s; }  // inside ucp_worker_progress: note it only
  void check_ep_error();                               // progress thread, outside ucp_worker_progress
  // Give up on tags [lo, hi] (transport.h). Any thread: records the range (receives submitted
  // from now on fail at once) and hands the rest to the progress thread (run_cancels), which
  // owns the worker. See pair_cancel.cc.
  void cancel(uint64_t lo, uint64_t hi, const Status& why) override;
  void run_cancels();      // progress thread: posted receives, arrived messages
  void drain_if_active();  // progress thread, every kDrainMs: messages that arrived since
  bool draining() const { return has_cancelled_.load(std::memory_order_relaxed); }
  void saw_activity() { active_ = true; }  // progress thread: the worker did something

 private:
  friend class UcxDevice;
  std::unique_ptr<Request> submit(bool send, void* buf, size_t bytes, uint64_t tag);
  void post(Op* op);            // progress thread
  void fail(const Status& st);  // progress thread (or close() after it)
  Status broken() const;
  const TagRange* cancelled(uint64_t tag) const { return cancelled_.find(tag); }  // under mu_
  bool refuse_cancelled(Op* op);         // progress thread: completes and deletes a cancelled receive
  void drain(uint64_t lo, uint64_t hi);  // progress thread: drop arrived messages of [lo, hi]

  UcxDevice* dev_;
  int peer_;
  std::shared_ptr<const std::string> name_;
  int side_fd_ = -1;
  ucp_worker_h worker_ = nullptr;  // this peer's worker
  int efd_ = -1;                   // its wake-up fd
  ucp_ep_h ep_ = nullptr;
  std::unordered_set<Op*> inflight_;  // progress thread only; owns the Ops
  bool failed_ = false;               // progress thread's view
  Liveness live_;                     // progress thread only
  ucs_status_t ep_error_ = UCS_OK;    // set by the endpoint's error handler
  mutable std::mutex mu_;
  Status broken_;
  CancelledTags cancelled_;         // under mu_: the ranges given up
  std::deque<TagRange> to_cancel_;  // under mu_: ranges the progress thread has not acted on yet
  std::atomic<bool> has_cancelled_{false};
  bool active_ = false;  // progress thread: the worker progressed since the last drain
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, messages_sent_{0}, messages_received_{0};
};

}  // namespace onet::net::ucx
