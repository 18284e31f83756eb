// Matching and completion for the in-process backend (see mem.h for the rendezvous rule).
#include <chrono>
#include <cstring>

#include "transport/mem/mem.h"

namespace onet::net::mem {

MemRequest::MemRequest(std::shared_ptr<Hub> hub, Channel* ch, bool is_send, void* buf, size_t bytes, uint64_t tag)
    : is_send(is_send), buf(buf), bytes(bytes), tag(tag), hub_(std::move(hub)), ch_(ch) {}

MemRequest::~MemRequest() {
  std::lock_guard<std::mutex> lk(ch_->mu);
  if (!queued) return;
  auto& q = (is_send ? ch_->sends : ch_->recvs)[tag];
  for (auto it = q.begin(); it != q.end(); ++it) {
    if (*it == this) {
      q.erase(it);
      break;
    }
  }
}

bool MemRequest::test() {
  std::lock_guard<std::mutex> lk(ch_->mu);
  return done;
}

Status MemRequest::wait(int64_t deadline_ms) {
  std::unique_lock<std::mutex> lk(ch_->mu);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms - now_ms());
  while (!done) {
    if (ch_->cv.wait_until(lk, until) == std::cv_status::timeout && !done) {
      return {Code::kTimeout, std::string(is_send ? "send to" : "receive from") + " peer " +
                                  std::to_string(is_send ? ch_->dst : ch_->src) + " (tag " + std::to_string(tag) +
                                  ", " + std::to_string(bytes) + " bytes) did not complete before the deadline"};
    }
  }
  return status;
}

void Channel::post(MemRequest* r) {
  std::lock_guard<std::mutex> lk(mu);
  if (closed != Code::kOk) {
    r->done = true;
    const int poster = r->is_send ? src : dst;
    r->status = poster == closed_by
                    ? Status{Code::kClosed, "device " + std::to_string(poster) + " was closed"}
                    : Status{Code::kAborted, "peer " + std::to_string(closed_by) + " closed its device"};
    return;
  }
  auto& other = (r->is_send ? recvs : sends)[r->tag];
  if (other.empty()) {
    (r->is_send ? sends : recvs)[r->tag].push_back(r);
    r->queued = true;
    return;
  }
  MemRequest* o = other.front();
  other.pop_front();
  o->queued = false;
  MemRequest* s = r->is_send ? r : o;
  MemRequest* d = r->is_send ? o : r;
  if (s->bytes != d->bytes) {
    Status m{Code::kMismatch, "message from peer " + std::to_string(src) + " to " + std::to_string(dst) + " with tag " +
                                  std::to_string(r->tag) + " is " + std::to_string(s->bytes) +
                                  " bytes but the receive was posted for " + std::to_string(d->bytes)};
    s->status = m;
    d->status = m;
  } else {
    if (s->bytes) std::memcpy(d->buf, s->buf, s->bytes);
    bytes += s->bytes;
    messages += 1;
  }
  s->done = d->done = true;
  cv.notify_all();
}

void Channel::fail_all(int by) {
  std::lock_guard<std::mutex> lk(mu);
  if (closed == Code::kOk) {
    closed = Code::kClosed;
    closed_by = by;
  }
  for (auto* side : {&sends, &recvs}) {
    const bool own = (side == &sends) == (by == src);  // requests of the closing device
    for (auto& [tag, q] : *side) {
      for (MemRequest* r : q) {
        r->queued = false;
        r->done = true;
        r->status = own ? Status{Code::kClosed, "device " + std::to_string(by) + " was closed"}
                        : Status{Code::kAborted, "peer " + std::to_string(by) + " closed its device"};
      }
      q.clear();
    }
  }
  cv.notify_all();
}

}  // namespace onet::net::mem
