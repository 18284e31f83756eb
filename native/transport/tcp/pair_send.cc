// TCP pair, sending: frames out through writev/sendmsg of header + payload iovecs (no staging
// copy), spread over the pair's sockets, with optional MSG_ZEROCOPY. See pair.cc for ordering.
#include <errno.h>
#include <time.h>  // before linux/errqueue.h, which uses timespec
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "transport/tcp/crc32c.h"
#include "transport/tcp/device.h"
#include "transport/common/socket.h"

#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

namespace onet::net::tcp {
namespace {

constexpr int kMaxIov = 64;

}  // namespace

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
    if (dev_->encrypted()) {  // sealed by flush(), in socket order; the GCM tag replaces the CRC
      f->hdr.flags = kFlagSealed;
      f->corrupt_sealed = f->len && dev_->corrupt_next_frame();
      frames[k] = std::move(f);
      continue;
    }
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
    req->complete(broken_.ok() ? Status{Code::kAborted, name() + ": link failed", {peer_}} : broken_);
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
      bool sealed = f->hdr.flags & kFlagSealed;
      if (niov + 2 + sealed > kMaxIov || (nfr && (zc || f->zerocopy))) break;  // a zerocopy frame goes alone
      size_t off = f->sent, head = sizeof(FrameHeader);
      if (off < sizeof(FrameHeader)) iov[niov++] = {reinterpret_cast<char*>(&f->hdr) + off, sizeof(FrameHeader) - off};
      if (sealed) {  // encrypted link: header, GCM tag, ciphertext
        if (!f->sealed && !seal(s, *f)) {
          s.tx_error = "encrypting a frame on stream " + std::to_string(s.index) + " failed (OpenSSL)";
          return false;
        }
        size_t moff = off > head ? off - head : 0;
        if (moff < kMacBytes) iov[niov++] = {f->mac + moff, kMacBytes - moff};
        head += kMacBytes;
      }
      size_t poff = off > head ? off - head : 0;
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
      size_t total = sizeof(FrameHeader) + (f->sealed ? kMacBytes : 0) + f->len;
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

// Encrypts f's payload into its own buffer with the stream's next nonce. Called in queue
// order (flush walks the queue from the front), which is the order the receiver opens them in.
bool TcpPair::seal(Stream& s, OutFrame& f) {
  if (f.len) f.cipher.reset(new char[f.len]);
  if (!s.tx_aead || !s.tx_aead->seal(f.hdr, f.payload, f.cipher.get(), f.len, f.mac)) return false;
  if (f.len) f.payload = f.cipher.get();
  if (f.corrupt_sealed) f.cipher[f.len / 2] ^= 0xff;  // test hook: tampered on the wire
  f.sealed = true;
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

}  // namespace onet::net::tcp
