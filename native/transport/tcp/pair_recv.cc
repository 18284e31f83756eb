// TCP pair, receiving: header, then the payload straight into the matched receive buffer (or a
// staging buffer for an unexpected message), CRC32C checked as the bytes arrive, and tag
// matching in per-pair message order (see pair.cc).
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "transport/tcp/crc32c.h"
#include "transport/tcp/device.h"
#include "transport/common/socket.h"

namespace onet::net::tcp {
namespace {

constexpr size_t kReadBudget = 8u << 20;  // bytes per readiness event before serving other sockets
thread_local char t_discard[64 << 10];

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

}  // namespace

// ---- receive ------------------------------------------------------------------------------

std::unique_ptr<Request> TcpPair::irecv(void* buf, size_t bytes, uint64_t tag) {
  auto r = std::make_shared<RecvState>(buf, bytes, tag, name_);
  std::lock_guard<std::mutex> g(mu_);
  auto t = tags_.find(tag);
  if (const TagRange* c = cancelled(tag)) {
    r->complete(c->why);
  } else if (t != tags_.end() && !t->second.unexpected.empty()) {
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
  } else if (m.discard && seq < next_elig_) {  // a later one waits for eligibility (begin_chunk)
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
    m.discard = cancelled(h.tag) != nullptr;  // of an aborted collective: its chunks are skipped
    // Advance eligibility: every message below next_elig_ has shown its header.
    for (auto e = msgs_.find(next_elig_); e != msgs_.end(); e = msgs_.find(++next_elig_)) {
      if (e->second.discard) {  // cancelled before it became eligible: never matched
        if (e->second.complete) msgs_.erase(e);
        continue;
      }
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
  if (!s.rx_auth_ok) {  // encrypted link: tampered or corrupted on the way; never delivered
    checksum_failures_.fetch_add(1, std::memory_order_relaxed);
    if (s.dest_is_user) std::memset(s.dest, 0, h.length);
    if (m.failed.ok())
      m.failed = {Code::kInternal, "authentication failed in a message from " + name() + ", tag " +
                                       std::to_string(h.tag) + ", bytes [" + std::to_string(h.offset) + ", " +
                                       std::to_string(h.offset + h.length) + ") of " + std::to_string(h.msg_bytes) +
                                       ": the AES-GCM tag does not match; the message was "
                                       "dropped (tampered with on the network, or a faulty NIC, cable or memory)"};
  } else if (verify && s.crc != h.payload_crc) {
    checksum_failures_.fetch_add(1, std::memory_order_relaxed);
    if (s.dest_is_user) std::memset(s.dest, 0, h.length);  // the bad bytes never stay visible
    if (m.failed.ok())
      m.failed = {Code::kInternal, "checksum mismatch in a message from " + name() + ", tag " + std::to_string(h.tag) +
                                       ", bytes [" + std::to_string(h.offset) + ", " +
                                       std::to_string(h.offset + h.length) + ") of " + std::to_string(h.msg_bytes) +
                                       ": CRC32C " + hex32(s.crc) + ", sender's " + hex32(h.payload_crc) +
                                       "; the message was dropped (faulty NIC, cable or memory?)"};
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
    // Encrypted link: the head is the header and then the GCM tag.
    const size_t head = sizeof(FrameHeader) + (s.rx_aead ? kMacBytes : 0);
    char* to = nullptr;
    if (!s.in_payload) {
      if (s.hdr_got < sizeof(FrameHeader))
        r = ::recv(s.fd, reinterpret_cast<char*>(&s.hdr) + s.hdr_got, sizeof(FrameHeader) - s.hdr_got, MSG_DONTWAIT);
      else r = ::recv(s.fd, s.rx_mac + (s.hdr_got - sizeof(FrameHeader)), head - s.hdr_got, MSG_DONTWAIT);
    } else {
      size_t want = std::min<size_t>(s.hdr.length - s.pay_got, budget);
      to = s.dest ? s.dest + s.pay_got : t_discard;
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
      fail({Code::kAborted,
            name() + ": connection lost on stream " + std::to_string(s.index) + " (" + errno_string(errno) + ")"});
      return;
    }
    budget -= std::min(budget, size_t(r));
    live_.heard(now_ms());
    if (!s.in_payload) {
      s.hdr_got += size_t(r);
      if (s.hdr_got < head) continue;
      s.hdr_got = 0;
      std::string bad = check_header(s.hdr);
      if (bad.empty() && bool(s.hdr.flags & kFlagSealed) != bool(s.rx_aead))
        bad = s.rx_aead ? "plaintext frame on an encrypted link" : "encrypted frame on a plaintext link";
      if (bad.empty() && s.rx_aead && !s.rx_aead->open_begin(s.hdr)) bad = "decryption failed to start (OpenSSL)";
      if (bad.empty() && s.rx_aead && s.hdr.kind == kFrameHeartbeat && !s.rx_aead->open_finish(s.rx_mac))
        bad = "heartbeat frame failed authentication";
      if (bad.empty() && s.hdr.stream != s.index)
        bad = "frame for stream " + std::to_string(s.hdr.stream) + " arrived on stream " + std::to_string(s.index);
      if (bad.empty() && s.hdr.frame_seq != s.rx_frame_seq)
        bad = "frame " + std::to_string(s.hdr.frame_seq) + " arrived where frame " + std::to_string(s.rx_frame_seq) +
              " was due";
      if (bad.empty() && s.hdr.kind == kFrameHeartbeat) {
        s.rx_frame_seq++;  // liveness only: live_ heard it above
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
      if (s.rx_aead) s.rx_aead->open_update(to, size_t(r));  // in place, while in cache; checked at the end
      else if (s.dest && (s.hdr.flags & kFlagPayloadCrc) && dev_->opts().checksum)
        s.crc = crc32c(s.crc, s.dest + s.pay_got, size_t(r));  // while the bytes are in cache
      s.pay_got += size_t(r);
    }
    if (s.in_payload && s.pay_got == s.hdr.length) {
      s.in_payload = false;
      if (s.rx_aead) s.rx_auth_ok = s.rx_aead->open_finish(s.rx_mac);
      finish_chunk(s);
    }
  }
}

}  // namespace onet::net::tcp
