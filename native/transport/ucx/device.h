// UCX backend internals. One UCP context per device and one worker *per peer* (single-thread
// mode), so UCP's worker-wide tag matching is per pair and the caller's full 64-bit tag goes on
// the wire unchanged. Every UCP call runs on the device's progress thread (or in close() after
// it stopped): isend/irecv queue an Op and wake the thread through an eventfd; UCP completion
// callbacks complete the Op's ReqState. Connection set-up reuses the TCP handshake
// (tcp/mesh.cc) on one side-channel socket per peer, over which each side sends the address of
// the worker it dedicates to that peer; the socket then carries heartbeats (transport/liveness.h)
// and notices a peer that goes away. Pair::cancel (an aborted collective's tags) records the
// range and lets the progress thread cancel and drain it (pair_cancel.cc).
#pragma once
#include <ucp/api/ucp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "transport/liveness.h"
#include "transport/tcp/request.h"
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
  std::shared_ptr<tcp::ReqState> st;
  void* buf = nullptr;
  size_t bytes = 0;
  uint64_t tag = 0;      // the caller's tag
  void* ucp_req = nullptr;
};

class UcxPair final : public Pair {
 public:
  UcxPair(UcxDevice* dev, int peer, std::string addr, int side_fd, int heartbeat_ms)
      : dev_(dev), peer_(peer), name_(std::make_shared<const std::string>("host " + std::to_string(peer) + " (" + addr + ")")),
        side_fd_(side_fd), live_(heartbeat_ms, now_ms()) {}
  int peer() const override { return peer_; }
  std::unique_ptr<Request> isend(const void* buf, size_t bytes, uint64_t tag) override;
  std::unique_ptr<Request> irecv(void* buf, size_t bytes, uint64_t tag) override;
  LinkStats stats() const;
  const std::string& name() const { return *name_; }
  void done(Op* op, ucs_status_t s, size_t len);  // progress thread, from UCP callbacks
  // Progress thread: a heartbeat byte on the side channel when due; fail the pair when the peer
  // has been silent too long.
  void heartbeat(int64_t now);
  void on_side_channel();                  // progress thread: readable side channel
  void on_ep_error(ucs_status_t s) { ep_error_ = s; }  // inside ucp_worker_progress: note it only
  void check_ep_error();                   // progress thread, outside ucp_worker_progress
  // Give up on tags [lo, hi] (transport.h). Any thread: records the range (receives submitted
  // from now on fail at once) and hands the rest to the progress thread (run_cancels), which
  // owns the worker. See pair_cancel.cc.
  void cancel(uint64_t lo, uint64_t hi, const Status& why) override;
  void run_cancels();                      // progress thread: posted receives, arrived messages
  void drain_if_active();                  // progress thread, every kDrainMs: messages that arrived since
  bool draining() const { return has_cancelled_.load(std::memory_order_relaxed); }
  void saw_activity() { active_ = true; }  // progress thread: the worker did something

 private:
  friend class UcxDevice;
  std::unique_ptr<Request> submit(bool send, void* buf, size_t bytes, uint64_t tag);
  void post(Op* op);                             // progress thread
  void fail(const Status& st);                   // progress thread (or close() after it)
  Status broken() const;
  struct Cancelled {
    uint64_t lo, hi;
    Status why;
  };
  const Cancelled* cancelled(uint64_t tag) const;  // under mu_
  bool refuse_cancelled(Op* op);                 // progress thread: completes and deletes a cancelled receive
  void drain(uint64_t lo, uint64_t hi);          // progress thread: drop arrived messages of [lo, hi]

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
  std::deque<Cancelled> cancelled_;  // under mu_: the last kMaxCancelled ranges given up
  std::deque<Cancelled> to_cancel_;  // under mu_: ranges the progress thread has not acted on yet
  std::atomic<bool> has_cancelled_{false};
  bool active_ = false;              // progress thread: the worker progressed since the last drain
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, messages_sent_{0}, messages_received_{0};
};

class UcxDevice final : public Device {
 public:
  explicit UcxDevice(const UcxOptions& o) : opts_(o) {}
  ~UcxDevice() override { close(); }
  Status init();
  const char* name() const override { return "ucx"; }
  std::string address() const override { return address_; }
  Status connect(int rank, const std::vector<std::string>& addrs, int64_t deadline_ms) override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Pair* pair(int peer) override;
  LinkStats stats(int peer) const override;
  void close() override;

  void enqueue(Op* op);  // any thread
  void wake();           // any thread: the progress thread looks at its queue and pairs now
  int epoll_fd() const { return ep_fd_; }

 private:
  void progress();
  void run_queue();
  void teardown();

  UcxOptions opts_;
  ucp_context_h ctx_ = nullptr;
  int listen_fd_ = -1, ep_fd_ = -1, wake_fd_ = -1;
  std::string address_;
  int rank_ = 0, size_ = 1;
  bool connected_ = false;
  std::mutex close_mu_;
  bool closed_ = false;
  std::vector<std::unique_ptr<UcxPair>> pairs_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex q_mu_;
  std::deque<Op*> queue_;
};

}  // namespace onet::net::ucx
