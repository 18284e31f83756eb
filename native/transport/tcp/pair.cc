// TCP pair: frames out (writev/sendmsg of header + payload iovecs, optional MSG_ZEROCOPY), frames
// in (header, then the payload straight into the matched receive buffer or a staging buffer),
// and tag matching in per-pair message order.
//
// Ordering: the sender numbers the pair's messages (msg_seq) and may spread one message's
// chunks over all sockets. The receiver makes message s *eligible* for matching only once the
// first chunk of every message < s has arrived, then matches eligible messages to receives of
// the same tag in msg_seq order; that is MPI's non-overtaking rule per (pair, tag), and a tag
// never waits on another tag's data, only on its header.
//
// This file: the pair's life (construction, heartbeats, stats, readiness events, failure).
// Sending is in pair_send.cc, receiving and matching in pair_recv.cc.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "transport/tcp/device.h"
#include "transport/common/socket.h"

namespace onet::net::tcp {

TcpPair::TcpPair(TcpDevice* dev, int peer, std::string addr, std::vector<int> fds, const std::vector<StreamKeys>& keys)
    : dev_(dev),
      peer_(peer),
      name_(std::make_shared<const std::string>("host " + std::to_string(peer) + " (" + addr + ")")),
      live_(dev->opts().heartbeat_ms, now_ms()) {
  for (size_t i = 0; i < fds.size(); i++) {
    auto s = std::make_unique<Stream>();
    s->pair = this;
    s->index = int(i);
    s->fd = fds[i];
    if (i < keys.size()) {  // encrypted link: one cipher per direction
      s->tx_aead = std::make_unique<FrameCipher>(keys[i].tx, true);
      s->rx_aead = std::make_unique<FrameCipher>(keys[i].rx, false);
    }
    streams_.push_back(std::move(s));
  }
}

// Liveness across hosts (common/liveness.h): every received byte counts; an idle sender
// queues an empty kFrameHeartbeat on stream 0 every hb; a peer silent for 3·hb fails the pair.
void TcpPair::heartbeat(int64_t now) {
  std::string gone = live_.silence(name(), now);
  if (!gone.empty()) return fail({Code::kAborted, gone});
  if (!live_.due(now)) return;
  Stream& s = *streams_[0];
  std::lock_guard<std::mutex> g(s.smu);
  if (s.closed || !s.q.empty()) return;  // frames already queued carry the news, or nothing can
  auto f = std::make_unique<OutFrame>();
  f->hdr.magic = kFrameMagic;
  f->hdr.kind = kFrameHeartbeat;
  f->hdr.flags = s.tx_aead ? kFlagSealed : 0;
  f->hdr.stream = uint16_t(s.index);
  f->hdr.frame_seq = s.tx_frame_seq++;
  seal_header(&f->hdr);
  s.q.push_back(std::move(f));
  if (!flush(s)) shutdown(s.fd, SHUT_RDWR);
}

TcpPair::~TcpPair() = default;

LinkStats TcpPair::stats() const {
  LinkStats s;
  s.bytes_sent = bytes_sent_.load();
  s.bytes_received = bytes_received_.load();
  s.messages_sent = messages_sent_.load();
  s.messages_received = messages_received_.load();
  s.checksum_failures = checksum_failures_.load();
  return s;
}

void TcpPair::on_event(Stream& s, uint32_t events) {
  if (events & EPOLLERR) drain_errqueue(s);
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(s);
  if (failed_) return;
  if (events & EPOLLOUT) {
    bool ok;
    {
      std::lock_guard<std::mutex> g(s.smu);
      ok = s.closed || flush(s);
    }
    if (!ok) fail({Code::kAborted, name() + ": " + s.tx_error});
  }
}

// ---- failure ------------------------------------------------------------------------------

void TcpPair::fail(const Status& failure) {
  Status st = failure;  // names the peer as data (transport.h): the engine maps hosts to ranks
  if (st.ranks.empty()) st.ranks = {peer_};
  {
    std::lock_guard<std::mutex> g(mu_);
    if (failed_) return;
    failed_ = true;
    broken_ = st;
    // Complete unexpected messages stay deliverable; everything else fails or goes.
    for (auto it = msgs_.begin(); it != msgs_.end();) {
      InMsg& m = it->second;
      if (m.recv) m.recv->complete(st);
      bool keep = m.complete && !m.recv && !m.discard && it->first < next_elig_;
      it = keep ? std::next(it) : msgs_.erase(it);
    }
    for (auto t = tags_.begin(); t != tags_.end();) {
      for (auto& r : t->second.posted) r->complete(st);
      t->second.posted.clear();
      auto& u = t->second.unexpected;
      u.erase(std::remove_if(u.begin(), u.end(), [&](uint64_t seq) { return !msgs_.count(seq); }), u.end());
      t = u.empty() ? tags_.erase(t) : std::next(t);
    }
  }
  for (auto& sp : streams_) {
    Stream& s = *sp;
    std::lock_guard<std::mutex> g(s.smu);
    s.closed = true;
    for (auto& f : s.q)
      if (f->req) f->req->complete(st);
    s.q.clear();
    for (auto& [p, f] : s.zc_hold)
      if (f->req) f->req->complete(st);
    s.zc_hold.clear();
    s.zc_ids.clear();
    if (s.fd >= 0) {
      epoll_ctl(dev_->epoll_fd(), EPOLL_CTL_DEL, s.fd, nullptr);
      shutdown(s.fd, SHUT_RDWR);  // closed by the device, after the progress thread stopped
    }
  }
}

}  // namespace onet::net::tcp
