// TCP pair: frames out (writev/sendmsg of header + payload iovecs, optional MSG_ZEROCOPY), frames
// in (header, then the payload straight into the matched receive buffer or a staging buffer),
// and tag matching in per-pair message order.
//
// Ordering: the sender numbers the pair's messages (msg_seq) and may spread one message's
// chunks over all sockets. The receiver makes message s *eligible* for matching only once the
// first chunk of every message < s has arrived, then matches eligible messages to receives of
// the same tag in msg_seq order; that is MPI's non-overtaking rule per (pair, tag), and a tag
// never waits on another tag's data, only on its header.
#include <errno.h>
#include <time.h>  // before linux/errqueue.h, which uses timespec
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "transport/tcp/crc32c.h"
#include "transport/tcp/device.h"
#include "transport/tcp/socket.h"

#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

namespace onet::net::tcp {
namespace {

constexpr int kMaxIov = 64;
constexpr size_t kReadBudget = 8u << 20;  // bytes per readiness event before serving other sockets
thread_local char t_discard[64 << 10];

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

}  // namespace

TcpPair::TcpPair(TcpDevice* dev, int peer, std::string addr, std::vector<int> fds)
    : dev_(dev), peer_(peer), name_(std::make_shared<const std::string>("host " + std::to_string(peer) + " (" + addr + ")")) {
  for (size_t i = 0; i < fds.size(); i++) {
    auto s = std::make_unique<Stream>();
    s->pair = this;
    s->index = int(i);
    s->fd = fds[i];
    streams_.push_back(std::move(s));
  }
  last_rx_ms_ = last_hb_ms_ = now_ms();
}

// Liveness across hosts (ONET_HEARTBEAT_MS = hb): every received byte counts; an idle sender
// queues an empty kFrameHeartbeat on stream 0 every hb; a peer silent for 3·hb (a vanished host,
// a pulled cable, a frozen coordinator) fails the pair, so every request on it ends with an error
// naming the host within about 3.5·hb instead of at the collective's deadline.
void TcpPair::heartbeat(int64_t now) {
  const int hb = dev_->opts().heartbeat_ms;
  // Until a peer's first byte (its progress thread may start later: it waits for its own mesh),
  // allow at least 10 s.
  if (now - last_rx_ms_ > (heard_ ? 3 * int64_t(hb) : std::max<int64_t>(3 * int64_t(hb), 10'000))) {
    fail({Code::kAborted, name() + " is unreachable: nothing received for " + std::to_string(now - last_rx_ms_) +
                              " ms (heartbeat every " + std::to_string(hb) + " ms, ONET_HEARTBEAT_MS); the host, its link or its coordinator is gone"});
    return;
  }
  if (now - last_hb_ms_ < hb) return;
  last_hb_ms_ = now;
  Stream& s = *streams_[0];
  std::lock_guard<std::mutex> g(s.smu);
  if (s.closed || !s.q.empty()) return;  // frames already queued carry the news, or nothing can
  auto f = std::make_unique<OutFrame>();
  f->hdr.magic = kFrameMagic;
  f->hdr.kind = kFrameHeartbeat;
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

// ---- send ---------------------------------------------------------------------------------

std::unique_ptr<Request> TcpPair::isend(const void* buf, size_t bytes, uint64_t tag) {
  auto req = std::make_shared<SendState>("send", bytes, tag, name_);
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!broken_.ok()) {
      req->complete(broken_);
      return std::make_unique<StateRequest>(req);
    }
  }
  const TcpOptions& o = dev_->opts();
  const char* p = static_cast<const char*>(buf);
  size_t nframes = bytes ? (bytes + kMaxFramePayload - 1) / kMaxFramePayload : 1;
  req->frames_left.store(int(nframes));
  // Build frames (and CRCs) before taking locks: the CRC pass is the costly part.
  std::vector<std::unique_ptr<OutFrame>> frames(nframes);
  for (size_t k = 0; k < nframes; k++) {
    auto f = std::make_unique<OutFrame>();
    size_t off = k * kMaxFramePayload;
    f->payload = p + off;
    f->len = uint32_t(std::min(kMaxFramePayload, bytes - off));
    f->req = req;
    f->hdr.magic = kFrameMagic;
    f->hdr.kind = kFrameData;
    f->hdr.length = f->len;
    f->hdr.tag = tag;
    f->hdr.msg_bytes = bytes;
    f->hdr.offset = off;
    if (o.checksum) {
      f->hdr.flags |= kFlagPayloadCrc;
      f->hdr.payload_crc = crc32c(0, f->payload, f->len);
    }
    f->zerocopy = o.zerocopy_bytes && f->len >= o.zerocopy_bytes;
    if (f->len && dev_->corrupt_next_frame()) {  // test hook: corrupt after the CRC was taken
      f->corrupt.reset(new char[f->len]);
      std::memcpy(f->corrupt.get(), f->payload, f->len);
      f->corrupt[f->len / 2] ^= 0xff;
      f->payload = f->corrupt.get();
      f->zerocopy = false;
    }
    frames[k] = std::move(f);
  }
  std::vector<Stream*> touched;
  std::vector<OutFrame*> rejected;
  {
    std::lock_guard<std::mutex> g(send_mu_);
    uint64_t seq = send_seq_++;
    size_t first = next_stream_;
    next_stream_ = (next_stream_ + nframes) % streams_.size();
    for (size_t k = 0; k < nframes; k++) {
      Stream& s = *streams_[(first + k) % streams_.size()];
      std::lock_guard<std::mutex> sg(s.smu);
      if (s.closed) continue;  // the pair failed under us; complete below
      OutFrame* f = frames[k].get();
      f->hdr.msg_seq = seq;
      f->hdr.stream = uint16_t(s.index);
      f->hdr.frame_seq = s.tx_frame_seq++;
      if (!s.zc_ok) f->zerocopy = false;
      seal_header(&f->hdr);
      s.q.push_back(std::move(frames[k]));
      if (std::find(touched.begin(), touched.end(), &s) == touched.end()) touched.push_back(&s);
    }
  }
  bool any_rejected = std::any_of(frames.begin(), frames.end(), [](auto& f) { return f != nullptr; });
  if (any_rejected) {
    std::lock_guard<std::mutex> g(mu_);
    req->complete(broken_.ok() ? Status{Code::kAborted, name() + ": link failed"} : broken_);
  }
  for (Stream* s : touched) {
    bool ok;
    {
      std::lock_guard<std::mutex> sg(s->smu);
      ok = s->closed || flush(*s);
    }
    // The progress thread sees the shut-down socket and fails the pair with tx_error.
    if (!ok) shutdown(s->fd, SHUT_RDWR);
  }
  return std::make_unique<StateRequest>(req);
}

void TcpPair::frame_written(OutFrame* f) {
  if (!f->req) return;  // a heartbeat
  bytes_sent_.fetch_add(f->len, std::memory_order_relaxed);
  if (f->req->frames_left.fetch_sub(1) == 1) {
    if (f->req->complete(Status::Ok())) messages_sent_.fetch_add(1, std::memory_order_relaxed);
  }
}

void TcpPair::set_out_interest(Stream& s, bool on) {
  if (s.want_out == on) return;
  s.want_out = on;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
  ev.data.ptr = &s;
  epoll_ctl(dev_->epoll_fd(), EPOLL_CTL_MOD, s.fd, &ev);
}

bool TcpPair::flush(Stream& s) {
  while (!s.q.empty()) {
    iovec iov[kMaxIov];
    int niov = 0;
    size_t nfr = 0;
    bool zc = s.q.front()->zerocopy;
    for (auto& fp : s.q) {
      OutFrame* f = fp.get();
      if (niov + 2 > kMaxIov || (nfr && (zc || f->zerocopy))) break;  // a zerocopy frame goes alone
      size_t off = f->sent;
      if (off < sizeof(FrameHeader))
        iov[niov++] = {reinterpret_cast<char*>(&f->hdr) + off, sizeof(FrameHeader) - off};
      size_t poff = off > sizeof(FrameHeader) ? off - sizeof(FrameHeader) : 0;
      if (f->len > poff) iov[niov++] = {const_cast<char*>(f->payload) + poff, f->len - poff};
      nfr++;
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = size_t(niov);
    ssize_t n = sendmsg(s.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT | (zc ? MSG_ZEROCOPY : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_out_interest(s, true);
        return true;
      }
      if (zc && errno == ENOBUFS) {  // over the socket's optmem: send this one by copy
        s.q.front()->zerocopy = false;
        continue;
      }
      s.tx_error = "send on stream " + std::to_string(s.index) + " failed: " + errno_string(errno);
      return false;
    }
    if (zc) {
      s.zc_ids[s.zc_next++] = s.q.front().get();
      s.q.front()->zc_pending++;
    }
    size_t left = size_t(n);
    while (left && !s.q.empty()) {
      OutFrame* f = s.q.front().get();
      size_t total = sizeof(FrameHeader) + f->len;
      size_t take = std::min(left, total - f->sent);
      f->sent += take;
      left -= take;
      if (f->sent < total) break;
      std::unique_ptr<OutFrame> done = std::move(s.q.front());
      s.q.pop_front();
      if (done->zc_pending) s.zc_hold[done.get()] = std::move(done);  // pages still pinned
      else frame_written(done.get());
    }
  }
  set_out_interest(s, false);
  return true;
}

// MSG_ZEROCOPY completions: ranges [lo, hi] of the socket's zerocopy send counter.
void TcpPair::drain_errqueue(Stream& s) {
  for (;;) {
    char ctrl[256];
    msghdr mh{};
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof ctrl;
    if (recvmsg(s.fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      bool rec = (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                 (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
      if (!rec) continue;
      sock_extended_err ee;
      std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY || ee.ee_errno != 0) continue;
      std::lock_guard<std::mutex> g(s.smu);
      for (uint32_t id = ee.ee_info;; id++) {
        auto it = s.zc_ids.find(id);
        if (it != s.zc_ids.end()) {
          OutFrame* f = it->second;
          s.zc_ids.erase(it);
          auto h = s.zc_hold.find(f);
          if (--f->zc_pending == 0 && h != s.zc_hold.end()) {
            frame_written(f);
            s.zc_hold.erase(h);
          }
        }
        if (id == ee.ee_data) break;
      }
    }
  }
}

// ---- receive ------------------------------------------------------------------------------

std::unique_ptr<Request> TcpPair::irecv(void* buf, size_t bytes, uint64_t tag) {
  auto r = std::make_shared<RecvState>(buf, bytes, tag, name_);
  std::lock_guard<std::mutex> g(mu_);
  auto t = tags_.find(tag);
  if (t != tags_.end() && !t->second.unexpected.empty()) {
    uint64_t seq = t->second.unexpected.front();
    t->second.unexpected.pop_front();
    if (t->second.unexpected.empty() && t->second.posted.empty()) tags_.erase(t);
    match(seq, msgs_.at(seq), r);
  } else if (!broken_.ok()) {
    r->complete(broken_);
  } else {
    tags_[tag].posted.push_back(r);
  }
  return std::make_unique<StateRequest>(r);
}

void TcpPair::match(uint64_t seq, InMsg& m, std::shared_ptr<RecvState> r) {
  if (r->bytes() != m.bytes) {
    r->complete({Code::kMismatch, r->describe() + ": the peer sent " + std::to_string(m.bytes) +
                                      " bytes with this tag (sizes must match exactly)"});
    m.discard = true;  // staging may still be written by an in-flight chunk: freed with m
    if (m.complete) msgs_.erase(seq);
    return;
  }
  m.recv = std::move(r);
  if (m.complete) finalize(seq, m);
}

void TcpPair::finalize(uint64_t seq, InMsg& m) {
  if (m.recv) {
    if (m.failed.ok()) {
      for (auto& [off, len] : m.staged) std::memcpy(m.recv->buf + off, m.staging.get() + off, len);
      bytes_received_.fetch_add(m.bytes, std::memory_order_relaxed);
      messages_received_.fetch_add(1, std::memory_order_relaxed);
      m.recv->complete(Status::Ok());
    } else {
      m.recv->complete(m.failed);
    }
    msgs_.erase(seq);
  } else if (m.discard) {
    msgs_.erase(seq);
  }  // else: a complete unexpected message, waiting for its receive
}

std::string TcpPair::begin_chunk(Stream& s) {
  const FrameHeader& h = s.hdr;
  std::lock_guard<std::mutex> g(mu_);
  auto it = msgs_.find(h.msg_seq);
  if (it == msgs_.end()) {
    if (h.msg_seq < next_elig_) return "chunk of message " + std::to_string(h.msg_seq) + " arrived after it completed";
    InMsg& m = msgs_[h.msg_seq];
    m.tag = h.tag;
    m.bytes = h.msg_bytes;
    // Advance eligibility: every message below next_elig_ has shown its header.
    for (auto e = msgs_.find(next_elig_); e != msgs_.end(); e = msgs_.find(++next_elig_)) {
      TagQ& q = tags_[e->second.tag];
      if (!q.posted.empty()) {
        auto r = std::move(q.posted.front());
        q.posted.pop_front();
        if (q.posted.empty() && q.unexpected.empty()) tags_.erase(e->second.tag);
        match(e->first, e->second, std::move(r));  // may finalize and erase e (complete early)
      } else {
        q.unexpected.push_back(e->first);
      }
    }
    it = msgs_.find(h.msg_seq);
  } else if (it->second.tag != h.tag || it->second.bytes != h.msg_bytes) {
    return "chunks of message " + std::to_string(h.msg_seq) + " disagree on tag or size";
  }
  InMsg& m = it->second;
  s.dest = nullptr;
  s.dest_is_user = false;
  if (m.discard || !m.failed.ok() || h.length == 0) return "";
  if (m.recv) {
    s.dest = m.recv->buf + h.offset;
    s.dest_is_user = true;
  } else {
    if (!m.staging) m.staging.reset(new char[m.bytes]);
    m.staged.emplace_back(h.offset, h.length);
    s.dest = m.staging.get() + h.offset;
  }
  return "";
}

void TcpPair::finish_chunk(Stream& s) {
  const FrameHeader& h = s.hdr;
  bool verify = dev_->opts().checksum && (h.flags & kFlagPayloadCrc) && s.dest;
  std::lock_guard<std::mutex> g(mu_);
  auto it = msgs_.find(h.msg_seq);
  if (it == msgs_.end()) return;
  InMsg& m = it->second;
  if (verify && s.crc != h.payload_crc) {
    checksum_failures_.fetch_add(1, std::memory_order_relaxed);
    if (s.dest_is_user) std::memset(s.dest, 0, h.length);  // the bad bytes never stay visible
    if (m.failed.ok())
      m.failed = {Code::kInternal, "checksum mismatch in a message from " + name() + ", tag " + std::to_string(h.tag) +
                                       ", bytes [" + std::to_string(h.offset) + ", " + std::to_string(h.offset + h.length) +
                                       ") of " + std::to_string(h.msg_bytes) + ": CRC32C " + hex32(s.crc) + ", sender's " +
                                       hex32(h.payload_crc) + "; the message was dropped (faulty NIC, cable or memory?)"};
  }
  m.done_bytes += h.length;
  if (m.done_bytes == m.bytes) {
    m.complete = true;
    finalize(it->first, m);
  }
}

void TcpPair::on_readable(Stream& s) {
  size_t budget = kReadBudget;
  while (budget) {
    ssize_t r;
    if (!s.in_payload) {
      r = ::recv(s.fd, reinterpret_cast<char*>(&s.hdr) + s.hdr_got, sizeof(FrameHeader) - s.hdr_got, MSG_DONTWAIT);
    } else {
      size_t want = std::min<size_t>(s.hdr.length - s.pay_got, budget);
      char* to = s.dest ? s.dest + s.pay_got : t_discard;
      if (!s.dest) want = std::min(want, sizeof t_discard);
      r = ::recv(s.fd, to, want, MSG_DONTWAIT);
    }
    if (r == 0) {
      std::string why;
      {
        std::lock_guard<std::mutex> g(s.smu);
        why = s.tx_error;
      }
      fail({Code::kAborted, name() + (why.empty() ? " closed the connection" : ": " + why)});
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      fail({Code::kAborted, name() + ": connection lost on stream " + std::to_string(s.index) + " (" +
                                errno_string(errno) + ")"});
      return;
    }
    budget -= std::min(budget, size_t(r));
    last_rx_ms_ = now_ms();
    heard_ = true;
    if (!s.in_payload) {
      s.hdr_got += size_t(r);
      if (s.hdr_got < sizeof(FrameHeader)) continue;
      s.hdr_got = 0;
      std::string bad = check_header(s.hdr);
      if (bad.empty() && s.hdr.stream != s.index) bad = "frame for stream " + std::to_string(s.hdr.stream) + " arrived on stream " + std::to_string(s.index);
      if (bad.empty() && s.hdr.frame_seq != s.rx_frame_seq)
        bad = "frame " + std::to_string(s.hdr.frame_seq) + " arrived where frame " + std::to_string(s.rx_frame_seq) + " was due";
      if (bad.empty() && s.hdr.kind == kFrameHeartbeat) {
        s.rx_frame_seq++;  // liveness only: last_rx_ms_ was bumped above
        continue;
      }
      if (bad.empty()) bad = begin_chunk(s);
      if (!bad.empty()) {
        fail({Code::kAborted, name() + ": corrupt stream " + std::to_string(s.index) + ": " + bad});
        return;
      }
      s.rx_frame_seq++;
      s.in_payload = true;
      s.pay_got = 0;
      s.crc = 0;
    } else {
      if (s.dest && (s.hdr.flags & kFlagPayloadCrc) && dev_->opts().checksum)
        s.crc = crc32c(s.crc, s.dest + s.pay_got, size_t(r));  // while the bytes are in cache
      s.pay_got += size_t(r);
    }
    if (s.in_payload && s.pay_got == s.hdr.length) {
      s.in_payload = false;
      finish_chunk(s);
    }
  }
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

void TcpPair::fail(const Status& st) {
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
