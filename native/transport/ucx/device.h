// UCX backend internals. One UCP context per device and one worker *per peer* (single-thread
// mode), so UCP's worker-wide tag matching is per pair and the caller's full 64-bit tag goes on
// the wire unchanged. Every UCP call runs on the device's progress thread (or in close() after
// it stopped): isend/irecv queue an Op and wake the thread through an eventfd; UCP completion
// callbacks complete the Op's ReqState. Connection set-up reuses the TCP handshake
// (common/mesh.cc) on one side-channel socket per peer, over which each side sends the address of
// the worker it dedicates to that peer; the socket then carries heartbeats (common/liveness.h)
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
#include <vector>

#include "transport/common/options.h"
#include "transport/transport.h"
#include "transport/ucx/pair.h"

namespace onet::net::ucx {

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
