// UCX pair: tagged sends and receives through the device's worker (see device.h), liveness on
// the side channel (heartbeat bytes, EOF) and from the endpoint's error handler.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include "transport/ucx/device.h"

namespace onet::net::ucx {
namespace {

void send_cb(void* req, ucs_status_t s, void* user) {
  Op* op = static_cast<Op*>(user);
  op->ucp_req = nullptr;
  ucp_request_free(req);
  op->pair->done(op, s, op->bytes);
}
void recv_cb(void* req, ucs_status_t s, const ucp_tag_recv_info_t* info, void* user) {
  Op* op = static_cast<Op*>(user);
  op->ucp_req = nullptr;
  ucp_request_free(req);
  op->pair->done(op, s, info ? info->length : 0);
}

}  // namespace

LinkStats UcxPair::stats() const {
  LinkStats s;
  s.bytes_sent = bytes_sent_.load();
  s.bytes_received = bytes_received_.load();
  s.messages_sent = messages_sent_.load();
  s.messages_received = messages_received_.load();
  return s;
}

Status UcxPair::broken() const {
  std::lock_guard<std::mutex> g(mu_);
  return broken_;
}

std::unique_ptr<Request> UcxPair::isend(const void* buf, size_t bytes, uint64_t tag) {
  return submit(true, const_cast<void*>(buf), bytes, tag);
}
std::unique_ptr<Request> UcxPair::irecv(void* buf, size_t bytes, uint64_t tag) {
  return submit(false, buf, bytes, tag);
}

std::unique_ptr<Request> UcxPair::submit(bool send, void* buf, size_t bytes, uint64_t tag) {
  auto st = std::make_shared<ReqState>(send ? "send" : "recv", bytes, tag, name_);
  if (!send && has_cancelled_.load(std::memory_order_relaxed)) {  // of an aborted collective: fail at once
    std::lock_guard<std::mutex> g(mu_);
    if (const TagRange* c = cancelled(tag)) {
      st->complete(c->why);
      return std::make_unique<StateRequest>(st);
    }
  }
  if (send) {  // a receive on a dead pair may still find a message that arrived: see post()
    Status b = broken();
    if (!b.ok()) {
      st->complete(b);
      return std::make_unique<StateRequest>(st);
    }
  }
  Op* op = new Op;
  op->send = send;
  op->pair = this;
  op->st = st;
  op->buf = buf;
  op->bytes = bytes;
  op->tag = tag;
  dev_->enqueue(op);
  return std::make_unique<StateRequest>(st);
}

void UcxPair::post(Op* op) {
  static char zero;
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL |
                   UCP_OP_ATTR_FIELD_DATATYPE;
  p.datatype = ucp_dt_make_contig(1);
  p.user_data = op;
  void* buf = op->bytes ? op->buf : &zero;
  ucs_status_ptr_t r;
  if (op->send) {
    if (failed_) return done(op, UCS_ERR_CANCELED, 0);
    p.cb.send = send_cb;
    inflight_.insert(op);
    r = ucp_tag_send_nbx(ep_, buf, op->bytes, op->tag, &p);
  } else {
    if (refuse_cancelled(op)) return;  // queued before its range was cancelled
    ucp_tag_recv_info_t info;
    if (failed_ && !ucp_tag_probe_nb(worker_, op->tag, ~uint64_t(0), 0, &info)) return done(op, UCS_ERR_CANCELED, 0);
    p.cb.recv = recv_cb;
    inflight_.insert(op);
    r = ucp_tag_recv_nbx(worker_, buf, op->bytes, op->tag, ~uint64_t(0), &p);
  }
  if (UCS_PTR_IS_ERR(r)) return done(op, UCS_PTR_STATUS(r), 0);
  // With NO_IMM_CMPL the callback may already have run (and deleted op) inside the call.
  if (inflight_.count(op)) op->ucp_req = r;
}

void UcxPair::done(Op* op, ucs_status_t s, size_t len) {
  std::unique_ptr<Op> own(op);
  inflight_.erase(op);
  if (s == UCS_OK && !op->send && len != op->bytes) {
    op->st->complete({Code::kMismatch, op->st->describe() + ": the peer sent " + std::to_string(len) +
                                           " bytes with this tag (sizes must match exactly)"});
    return;
  }
  if (s == UCS_ERR_MESSAGE_TRUNCATED) {
    op->st->complete(
        {Code::kMismatch, op->st->describe() + ": the peer sent more bytes with this tag (sizes must match exactly)"});
    return;
  }
  if (s != UCS_OK) {
    Status b = broken();
    op->st->complete(
        !b.ok() ? b : Status{Code::kAborted, op->st->describe() + ": UCX error: " + ucs_status_string(s), {peer_}});
    return;
  }
  if (op->send) {
    bytes_sent_.fetch_add(op->bytes, std::memory_order_relaxed);
    messages_sent_.fetch_add(1, std::memory_order_relaxed);
  } else {
    bytes_received_.fetch_add(op->bytes, std::memory_order_relaxed);
    messages_received_.fetch_add(1, std::memory_order_relaxed);
  }
  op->st->complete(Status::Ok());
}

// The side channel carries one byte (kSideHeartbeat) per heartbeat after the worker-address
// swap; any byte counts as life, EOF or an error is the peer going away.
void UcxPair::on_side_channel() {
  char b[64];
  ssize_t r;
  while ((r = ::recv(side_fd_, b, sizeof b, MSG_DONTWAIT)) > 0) live_.heard(now_ms());
  if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
    epoll_ctl(dev_->epoll_fd(), EPOLL_CTL_DEL, side_fd_, nullptr);  // level-triggered EOF: stop looking
    fail({Code::kAborted, name() + " closed the connection"});
  }
}

void UcxPair::heartbeat(int64_t now) {
  static const char kSideHeartbeat = 2;  // as the tcp frame kind
  if (failed_) return;
  on_side_channel();  // bytes waiting unread (a busy progress thread) are life too
  if (failed_) return;
  std::string gone = live_.silence(name(), now);
  if (!gone.empty()) return fail({Code::kAborted, gone});
  // A full socket buffer (EAGAIN) means the peer is not reading: silence will tell. A broken
  // socket shows on the read side as EOF or an error.
  if (live_.due(now)) (void)::send(side_fd_, &kSideHeartbeat, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void UcxPair::check_ep_error() {
  if (ep_error_ == UCS_OK || failed_) return;
  on_side_channel();  // a clean close that raced the endpoint's error still reads as one
  if (!failed_)
    fail({Code::kAborted, name() + ": UCX reports the connection failed (" + ucs_status_string(ep_error_) +
                              "); the host, its link or its coordinator is gone"});
}

void UcxPair::fail(const Status& failure) {
  Status st = failure;  // names the peer as data (transport.h): the engine maps hosts to ranks
  if (st.ranks.empty()) st.ranks = {peer_};
  if (failed_) return;
  failed_ = true;
  {
    std::lock_guard<std::mutex> g(mu_);
    broken_ = st;
  }
  // Receives are cancelled (their callbacks report the pair's status); a forced close of the
  // endpoint completes its sends with an error the same way.
  std::vector<Op*> recvs;
  for (Op* op : inflight_)
    if (!op->send && op->ucp_req) recvs.push_back(op);
  for (Op* op : recvs) ucp_request_cancel(worker_, op->ucp_req);
  if (ep_) {
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    p.flags = UCP_EP_CLOSE_FLAG_FORCE;
    ucs_status_ptr_t r = ucp_ep_close_nbx(ep_, &p);
    ep_ = nullptr;
    if (r && !UCS_PTR_IS_ERR(r)) {
      while (ucp_request_check_status(r) == UCS_INPROGRESS) ucp_worker_progress(worker_);
      ucp_request_free(r);
    }
  }
  if (side_fd_ >= 0) {
    epoll_ctl(dev_->epoll_fd(), EPOLL_CTL_DEL, side_fd_, nullptr);
    shutdown(side_fd_, SHUT_RDWR);
  }
}

}  // namespace onet::net::ucx
