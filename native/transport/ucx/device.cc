// UCX device: context set-up, connect (TCP handshake, a worker per peer, worker-address swap on
// the side channel, endpoints), the progress thread (workers' efds + eventfd + side sockets in
// one epoll set, heartbeats on its HeartbeatClock).
#include "transport/ucx/device.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transport/common/mesh.h"
#include "transport/common/socket.h"

namespace onet::net::ucx {
namespace {

// Move n bytes over a non-blocking socket before the deadline.
bool io_all(int fd, void* buf, size_t n, bool out, int64_t deadline_ms, std::string* err) {
  char* p = static_cast<char*>(buf);
  while (n) {
    ssize_t r = out ? ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : ::recv(fd, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= size_t(r);
      continue;
    }
    if (r == 0) {
      *err = "closed the side channel";
      return false;
    }
    if (errno != EAGAIN && errno != EINTR) {
      *err = errno_string(errno);
      return false;
    }
    int64_t left = deadline_ms - now_ms();
    if (left <= 0) {
      *err = "timed out swapping UCX worker addresses";
      return false;
    }
    pollfd pf{fd, short(out ? POLLOUT : POLLIN), 0};
    ::poll(&pf, 1, int(left));
  }
  return true;
}

// Runs inside ucp_worker_progress, where the endpoint must not be closed: the endpoint's sends
// complete with the error themselves; progress() fails the pair (and its receives, which UCP
// matches worker-wide and would otherwise wait for their deadline) right after.
void ep_error(void* arg, ucp_ep_h, ucs_status_t s) { static_cast<UcxPair*>(arg)->on_ep_error(s); }

}  // namespace

Status UcxDevice::init() {
  SockAddr bound;
  Status st = make_listener(opts_.bind_ip, opts_.port, 0, &listen_fd_, &bound);
  if (!st.ok()) return {st.code, "ucx: side channel: " + st.msg};
  address_ = addr_string(bound);
  ucp_config_t* cfg = nullptr;
  ucs_status_t s = ucp_config_read(nullptr, nullptr, &cfg);
  if (s != UCS_OK) return {Code::kInternal, std::string("ucx: reading UCX_* settings: ") + ucs_status_string(s)};
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED;
  params.features = UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 0;
  s = ucp_init(&params, cfg, &ctx_);
  ucp_config_release(cfg);
  if (s != UCS_OK)
    return {Code::kUnsupported, std::string("ucx: ucp_init failed: ") + ucs_status_string(s) +
                                    " (check UCX_TLS / UCX_NET_DEVICES, or use the tcp transport)"};
  ep_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ep_fd_ < 0 || wake_fd_ < 0) return {Code::kInternal, "ucx: epoll/eventfd: " + errno_string(errno)};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  return Status::Ok();
}

Status UcxDevice::connect(int rank, const std::vector<std::string>& addrs, int64_t deadline_ms) {
  {
    std::lock_guard<std::mutex> g(close_mu_);
    if (closed_) return {Code::kClosed, "ucx: connect() on a closed device"};
    if (connected_) return {Code::kInvalid, "ucx: connect() called twice on one device"};
  }
  MeshOptions mo;
  mo.backend = kBackendUcx;
  mo.version = opts_.test_protocol_version ? opts_.test_protocol_version : kProtocolVersion;
  mo.job_hash = opts_.job_hash;
  mo.streams = 1;
  std::vector<std::vector<int>> fds;
  Status st = mesh_connect(listen_fd_, mo, rank, addrs, deadline_ms, &fds);
  if (!st.ok()) return {st.code, "ucx " + st.msg};

  // A worker per peer; each side sends the peer the address of the worker it keeps for it.
  const int size = int(addrs.size());
  std::vector<std::unique_ptr<UcxPair>> pairs(size);
  std::string err;
  int bad = -1;
  auto fail_all = [&](Status st) {
    for (auto& p : pairs)
      if (p) {
        if (p->worker_) ucp_worker_destroy(p->worker_);
        p->worker_ = nullptr;
      }
    for (auto& v : fds)
      for (int fd : v) ::close(fd);
    return st;
  };
  std::vector<std::vector<char>> mine(size), theirs(size);
  for (int p = 0; p < size; p++) {
    if (p == rank) continue;
    pairs[p] = std::make_unique<UcxPair>(this, p, addrs[p], fds[p][0], opts_.heartbeat_ms);
    ucp_worker_params_t wp{};
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;
    ucs_status_t s = ucp_worker_create(ctx_, &wp, &pairs[p]->worker_);
    if (s != UCS_OK) {
      pairs[p]->worker_ = nullptr;
      return fail_all({Code::kInternal, std::string("ucx: ucp_worker_create: ") + ucs_status_string(s)});
    }
    s = ucp_worker_get_efd(pairs[p]->worker_, &pairs[p]->efd_);
    ucp_address_t* a = nullptr;
    size_t len = 0;
    if (s == UCS_OK) s = ucp_worker_get_address(pairs[p]->worker_, &a, &len);
    if (s != UCS_OK) return fail_all({Code::kInternal, std::string("ucx: worker set-up: ") + ucs_status_string(s)});
    mine[p].assign(reinterpret_cast<char*>(a), reinterpret_cast<char*>(a) + len);
    ucp_worker_release_address(pairs[p]->worker_, a);
  }
  for (int p = 0; p < size && bad < 0; p++) {  // all writes first: addresses fit in socket buffers
    if (p == rank) continue;
    uint32_t len = uint32_t(mine[p].size());
    if (!io_all(fds[p][0], &len, 4, true, deadline_ms, &err) ||
        !io_all(fds[p][0], mine[p].data(), len, true, deadline_ms, &err))
      bad = p;
  }
  for (int p = 0; p < size && bad < 0; p++) {
    if (p == rank) continue;
    uint32_t len = 0;
    if (!io_all(fds[p][0], &len, 4, false, deadline_ms, &err) || len > (1u << 20)) {
      bad = p;
      if (err.empty()) err = "bad worker address length";
      break;
    }
    theirs[p].resize(len);
    if (!io_all(fds[p][0], theirs[p].data(), len, false, deadline_ms, &err)) bad = p;
  }
  if (bad >= 0)
    return fail_all({Code::kAborted, "ucx connect: host " + std::to_string(bad) + " at " + addrs[bad] + ": " + err});

  std::lock_guard<std::mutex> g(close_mu_);
  if (closed_) return fail_all({Code::kClosed, "ucx: device closed during connect()"});
  rank_ = rank;
  size_ = size;
  pairs_ = std::move(pairs);
  for (int p = 0; p < size_; p++) {
    if (p == rank) continue;
    UcxPair* pair = pairs_[p].get();
    ucp_ep_params_t ep{};
    ep.field_mask =
        UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep.address = reinterpret_cast<const ucp_address_t*>(theirs[p].data());
    ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep.err_handler.cb = ep_error;
    ep.err_handler.arg = pair;
    ucs_status_t s = ucp_ep_create(pair->worker_, &ep, &pair->ep_);
    if (s != UCS_OK) {
      pair->ep_ = nullptr;
      pair->failed_ = true;
      pair->broken_ = {Code::kAborted, pair->name() + ": ucp_ep_create failed: " + ucs_status_string(s)};
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = pair;
    epoll_ctl(ep_fd_, EPOLL_CTL_ADD, pair->side_fd_, &ev);
    ev.events = EPOLLIN;
    ev.data.ptr = this;  // any worker: progress() polls them all
    epoll_ctl(ep_fd_, EPOLL_CTL_ADD, pair->efd_, &ev);
  }
  connected_ = true;
  if (size_ > 1) thread_ = std::thread([this] { progress(); });
  return Status::Ok();
}

void UcxDevice::enqueue(Op* op) {
  {
    std::lock_guard<std::mutex> g(q_mu_);
    if (!stop_.load(std::memory_order_acquire) && thread_.joinable()) {
      queue_.push_back(op);
      op = nullptr;
    }
  }
  if (op) {  // no progress thread (closed, or never connected)
    op->st->complete({Code::kClosed, "ucx: device of host " + std::to_string(rank_) + " is closed"});
    delete op;
    return;
  }
  wake();
}

void UcxDevice::wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0 && write(wake_fd_, &one, sizeof one) < 0) {}
}

void UcxDevice::run_queue() {
  std::deque<Op*> q;
  {
    std::lock_guard<std::mutex> g(q_mu_);
    q.swap(queue_);
  }
  for (Op* op : q) op->pair->post(op);
}

void UcxDevice::progress() {
  epoll_event evs[32];
  HeartbeatClock clock(opts_.heartbeat_ms);
  int64_t next_drain = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    run_queue();  // before run_cancels: a receive queued before a cancel is posted, then cancelled
    bool draining = false;
    for (auto& p : pairs_)
      if (p) {
        p->run_cancels();
        draining |= p->draining();
      }
    if (int64_t now = now_ms(); draining && now >= next_drain) {  // leftovers of aborted collectives
      next_drain = now + kDrainMs;
      for (auto& p : pairs_)
        if (p) p->drain_if_active();
    }
    // A pair fails on its side channel's EOF (a clean close or a dead process), on its
    // endpoint's error handler (UCX saw the link fail), or on heartbeat silence (a host, link
    // or coordinator gone without a word). Progress is capped per pass so a long transfer on one
    // worker never starves the others or the heartbeats (busy passes loop straight back here).
    bool busy = false, armed = true;
    for (auto& p : pairs_) {
      if (!p) continue;
      for (int k = 0; k < 256 && ucp_worker_progress(p->worker_); k++) {
        busy = true;
        p->saw_activity();
      }
      p->check_ep_error();
      ucs_status_t s = ucp_worker_arm(p->worker_);
      busy |= s == UCS_ERR_BUSY;
      armed &= s == UCS_OK || s == UCS_ERR_BUSY;
    }
    if (int64_t now = now_ms(); clock.tick(now))  // also when busy: a busy link still beats
      for (auto& p : pairs_)
        if (p) p->heartbeat(now);
    if (busy) continue;
    int n = epoll_wait(ep_fd_, evs, 32, clock.wait_ms(armed ? (draining ? kDrainMs : 1000) : 1));
    for (int i = 0; i < n; i++) {
      void* who = evs[i].data.ptr;
      if (!who) {
        uint64_t v;
        while (read(wake_fd_, &v, sizeof v) > 0) {}
      } else if (who != this) {
        static_cast<UcxPair*>(who)->on_side_channel();
      }
    }
  }
}

Pair* UcxDevice::pair(int peer) {
  if (peer < 0 || peer >= int(pairs_.size())) return nullptr;
  return pairs_[peer].get();
}

LinkStats UcxDevice::stats(int peer) const {
  if (peer < 0 || peer >= int(pairs_.size()) || !pairs_[peer]) return {};
  return pairs_[peer]->stats();
}

void UcxDevice::close() {
  {
    std::lock_guard<std::mutex> g(close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  {
    std::lock_guard<std::mutex> g(q_mu_);
    stop_.store(true, std::memory_order_release);
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) {}
  }
  if (thread_.joinable()) thread_.join();
  teardown();
}

// Single-threaded from here: the progress thread is gone.
void UcxDevice::teardown() {
  run_queue();  // posted after the thread stopped looking: fail them below with the pairs
  for (auto& p : pairs_) {
    if (!p) continue;
    // Let sends already handed to UCX reach the peer (bounded), then drop everything.
    ucp_request_param_t prm{};
    ucs_status_ptr_t r = p->failed_ ? nullptr : ucp_worker_flush_nbx(p->worker_, &prm);
    int64_t until = now_ms() + 2000;
    if (r && !UCS_PTR_IS_ERR(r)) {
      while (ucp_request_check_status(r) == UCS_INPROGRESS && now_ms() < until) ucp_worker_progress(p->worker_);
      if (ucp_request_check_status(r) == UCS_INPROGRESS) ucp_request_cancel(p->worker_, r);
      ucp_request_free(r);
    }
    p->fail({Code::kClosed, "ucx: device of host " + std::to_string(rank_) + " closed"});
    while (!p->inflight_.empty() && ucp_worker_progress(p->worker_)) {}
    for (Op* op : p->inflight_) {  // UCX never completed them: report and forget
      op->st->complete({Code::kClosed, "ucx: device closed"});
      delete op;
    }
    p->inflight_.clear();
    ucp_worker_destroy(p->worker_);
    p->worker_ = nullptr;
    if (p->side_fd_ >= 0) ::close(p->side_fd_);
    p->side_fd_ = -1;
  }
  if (ctx_) ucp_cleanup(ctx_);
  ctx_ = nullptr;
  for (int* fd : {&listen_fd_, &ep_fd_, &wake_fd_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

}  // namespace onet::net::ucx

namespace onet::net {

bool ucx_available() { return true; }

Status create_ucx_device(const UcxOptions& opts, std::unique_ptr<Device>* out) {
  auto dev = std::make_unique<ucx::UcxDevice>(opts);
  Status st = dev->init();
  if (!st.ok()) return st;
  *out = std::move(dev);
  return Status::Ok();
}

}  // namespace onet::net
