// The completion record behind every Request of the tcp and ucx backends (transport/common). The backend and the
// caller's Request handle share it, so dropping a handle early never leaves the backend with a
// dangling pointer (the buffer, though, must stay valid until completion: see transport.h).
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "transport/transport.h"

namespace onet::net {

class ReqState {
 public:
  // kind "send"/"recv"; peer names the other end ("host 1 (10.0.0.2:4000)"), for messages.
  ReqState(const char* kind, size_t bytes, uint64_t tag, std::shared_ptr<const std::string> peer)
      : kind_(kind), bytes_(bytes), tag_(tag), peer_(std::move(peer)) {}
  virtual ~ReqState() = default;
  size_t bytes() const { return bytes_; }
  uint64_t tag() const { return tag_; }
  std::string describe() const {
    bool send = kind_[0] == 's';
    return std::string(kind_) + " of " + std::to_string(bytes_) + " bytes " + (send ? "to " : "from ") +
           (peer_ ? *peer_ : "?") + ", tag " + std::to_string(tag_);
  }
  // The first completion wins; later ones (a failure racing a success) are ignored.
  bool complete(Status st) {
    std::lock_guard<std::mutex> g(mu_);
    if (done_.load(std::memory_order_relaxed)) return false;
    st_ = std::move(st);
    done_.store(true, std::memory_order_release);
    cv_.notify_all();
    return true;
  }
  bool done() const { return done_.load(std::memory_order_acquire); }
  Status wait(int64_t deadline_ms) {
    std::unique_lock<std::mutex> g(mu_);
    while (!done_.load(std::memory_order_relaxed)) {
      int64_t left = deadline_ms - now_ms();
      if (left <= 0)
        return {Code::kTimeout, describe() +
                                    ": still pending at the deadline (the peer is slow, stuck, or has "
                                    "not posted the matching operation)"};
      cv_.wait_for(g, std::chrono::milliseconds(left));
    }
    return st_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  Status st_;
  const char* kind_;
  size_t bytes_;
  uint64_t tag_;
  std::shared_ptr<const std::string> peer_;
};

class StateRequest final : public Request {
 public:
  explicit StateRequest(std::shared_ptr<ReqState> s) : s_(std::move(s)) {}
  bool test() override { return s_->done(); }
  Status wait(int64_t deadline_ms) override { return s_->wait(deadline_ms); }

 private:
  std::shared_ptr<ReqState> s_;
};

}  // namespace onet::net
