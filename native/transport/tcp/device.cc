// TCP device: listener, full-mesh connect (mesh.cc), and the epoll progress thread.
#include "transport/tcp/device.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "transport/common/mesh.h"
#include "transport/common/socket.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif

namespace onet::net::tcp {

Status TcpDevice::init() {
  if (opts_.streams < 1 || opts_.streams > 64)
    return {Code::kInvalid,
            "tcp: streams per peer must be 1..64 (ONET_TCP_STREAMS), got " + std::to_string(opts_.streams)};
  if (opts_.test_corrupt_every_n_frames < 0) return {Code::kInvalid, "tcp: test_corrupt_every_n_frames must be >= 0"};
  int tls_set = !opts_.tls_cert.empty() + !opts_.tls_key.empty() + !opts_.tls_ca.empty();
  if (tls_set && tls_set != 3)
    return {Code::kInvalid,
            "tcp: data encryption needs all of ONET_TLS_CERT, ONET_TLS_KEY and ONET_TLS_CA (PEM files); set all three "
            "or none"};
  if (tls_set) {
    Status st = tls_context(opts_.tls_cert, opts_.tls_key, opts_.tls_ca, &tls_);
    if (!st.ok()) return st;
    opts_.zerocopy_bytes = 0;  // frames go from the sealed copy; pinning it buys nothing
  }
  SockAddr bound;
  Status st = make_listener(opts_.bind_ip, opts_.port, opts_.socket_buffer, &listen_fd_, &bound);
  if (!st.ok()) {
    st.msg = "tcp: " + st.msg;
    return st;
  }
  address_ = addr_string(bound);
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ep_ < 0 || wake_fd_ < 0) return {Code::kInternal, "tcp: epoll/eventfd: " + errno_string(errno)};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
  return Status::Ok();
}

Status TcpDevice::connect(int rank, const std::vector<std::string>& addrs, int64_t deadline_ms) {
  {
    std::lock_guard<std::mutex> g(close_mu_);
    if (closed_) return {Code::kClosed, "tcp: connect() on a closed device"};
    if (connected_) return {Code::kInvalid, "tcp: connect() called twice on one device"};
  }
  if (addrs.empty()) return {Code::kInvalid, "tcp: connect() needs every host's address (got none)"};
  if (rank < 0 || rank >= int(addrs.size()))
    return {Code::kInvalid,
            "tcp: rank " + std::to_string(rank) + " outside a world of " + std::to_string(addrs.size())};
  MeshOptions mo;
  mo.backend = kBackendTcp;
  mo.version = opts_.test_protocol_version ? opts_.test_protocol_version : kProtocolVersion;
  mo.job_hash = opts_.job_hash;
  mo.streams = opts_.streams;
  mo.socket_buffer = opts_.socket_buffer;
  std::vector<std::vector<int>> fds;
  std::vector<std::vector<StreamKeys>> keys(addrs.size(), std::vector<StreamKeys>(tls_ ? opts_.streams : 0));
  if (tls_)  // each socket's frame keys; a retried stream's newest socket (and keys) win
    mo.secure = [&](int fd, bool server, int peer, int stream, int64_t deadline) {
      Status ts = tls_secure(tls_.get(), fd, server, stream, deadline, &keys[peer][stream]);
      if (!ts.ok()) ts.msg = "TLS: " + ts.msg;
      return ts;
    };
  Status st = mesh_connect(listen_fd_, mo, rank, addrs, deadline_ms, &fds);
  if (!st.ok()) {
    st.msg = "tcp " + st.msg;
    return st;
  }
  std::lock_guard<std::mutex> g(close_mu_);
  if (closed_) {
    for (auto& v : fds)
      for (int fd : v) ::close(fd);
    return {Code::kClosed, "tcp: device closed during connect()"};
  }
  rank_ = rank;
  size_ = int(addrs.size());
  pairs_.resize(size_);
  for (int p = 0; p < size_; p++) {
    if (p == rank) continue;
    pairs_[p] = std::make_unique<TcpPair>(this, p, addrs[p], fds[p], keys[p]);
    for (auto& s : pairs_[p]->streams()) {
      if (opts_.zerocopy_bytes) {
        int one = 1;
        s->zc_ok = setsockopt(s->fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) == 0;  // silently off if refused
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.ptr = s.get();
      epoll_ctl(ep_, EPOLL_CTL_ADD, s->fd, &ev);
    }
  }
  for (auto& v : keys) explicit_bzero(v.data(), v.size() * sizeof(StreamKeys));  // the ciphers hold their own copies
  connected_ = true;
  if (size_ > 1) thread_ = std::thread([this] { progress(); });
  return Status::Ok();
}

void TcpDevice::progress() {
  epoll_event evs[64];
  HeartbeatClock clock(opts_.heartbeat_ms);
  while (!stop_.load(std::memory_order_acquire)) {
    int n = epoll_wait(ep_, evs, 64, clock.wait_ms(-1));
    if (int64_t now = now_ms(); clock.tick(now))
      for (auto& p : pairs_)
        if (p && !p->failed()) p->heartbeat(now);
    for (int i = 0; i < n; i++) {
      if (!evs[i].data.ptr) {
        uint64_t v;
        while (read(wake_fd_, &v, sizeof v) > 0) {}
        continue;
      }
      Stream* s = static_cast<Stream*>(evs[i].data.ptr);
      if (!s->pair->failed()) s->pair->on_event(*s, evs[i].events);
    }
  }
}

bool TcpDevice::corrupt_next_frame() {
  int n = opts_.test_corrupt_every_n_frames;
  return n > 0 && (frames_.fetch_add(1) + 1) % uint64_t(n) == 0;
}

Pair* TcpDevice::pair(int peer) {
  if (peer < 0 || peer >= int(pairs_.size())) return nullptr;
  return pairs_[peer].get();
}

LinkStats TcpDevice::stats(int peer) const {
  if (peer < 0 || peer >= int(pairs_.size()) || !pairs_[peer]) return {};
  return pairs_[peer]->stats();
}

void TcpDevice::close() {
  {
    std::lock_guard<std::mutex> g(close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  stop_.store(true, std::memory_order_release);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) {}
  }
  if (thread_.joinable()) thread_.join();
  // The progress thread is gone: no socket is read any more, so failing requests here is safe.
  for (auto& p : pairs_)
    if (p) p->fail({Code::kClosed, "tcp: device of host " + std::to_string(rank_) + " closed"});
  for (auto& p : pairs_)
    if (p)
      for (auto& s : p->streams()) {
        if (s->fd >= 0) ::close(s->fd);
        s->fd = -1;
      }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (ep_ >= 0) ::close(ep_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  listen_fd_ = ep_ = wake_fd_ = -1;
}

}  // namespace onet::net::tcp

namespace onet::net {

Status create_tcp_device(const TcpOptions& opts, std::unique_ptr<Device>* out) {
  auto dev = std::make_unique<tcp::TcpDevice>(opts);
  Status st = dev->init();
  if (!st.ok()) return st;
  *out = std::move(dev);
  return Status::Ok();
}

}  // namespace onet::net
