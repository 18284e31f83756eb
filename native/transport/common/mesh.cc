#include "transport/common/mesh.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "transport/common/socket.h"
#include "transport/transport.h"

namespace onet::net {
namespace {

const char* backend_name(uint8_t b) { return b == kBackendTcp ? "tcp" : b == kBackendUcx ? "ucx" : "unknown"; }

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

Hello make_hello(const MeshOptions& o, HelloKind kind, int rank, int size, int stream, uint32_t reason_len) {
  Hello h{};
  h.magic = kHelloMagic;
  h.version = o.version;
  h.kind = kind;
  h.backend = o.backend;
  h.job_hash = o.job_hash;
  h.rank = rank;
  h.size = size;
  h.stream = uint16_t(stream);
  h.streams = uint16_t(o.streams);
  h.reason_len = reason_len;
  h.reserved = o.secure ? kHelloEncrypted : 0;
  return h;
}

// Why the accepting side (`me`) refuses this hello, or "" to accept it.
std::string refusal(const Hello& h, const MeshOptions& o, int me, int size) {
  std::string host = "host " + std::to_string(me);
  if (h.magic != kHelloMagic) return "not an OpenNetworks handshake (bad magic)";
  if (h.version != o.version)
    return "protocol version mismatch: the connecting side speaks v" + std::to_string(h.version) + ", " + host +
           " speaks v" + std::to_string(o.version) + " (run the same OpenNetworks release on every host)";
  if (h.kind != kHello) return "unexpected handshake message kind " + std::to_string(h.kind);
  if (h.backend != o.backend)
    return std::string("transport mismatch: the connecting side uses ") + backend_name(h.backend) + ", " + host +
           " uses " + backend_name(o.backend) + " (set the same transport on every host)";
  if (h.job_hash != o.job_hash)
    return "job hash mismatch: the connecting side has " + hex32(h.job_hash) + ", " + host + " has " +
           hex32(o.job_hash) + " (the peer belongs to another job: a stale process or a wrong address?)";
  if (h.size != size)
    return "world size mismatch: the connecting side was given " + std::to_string(h.size) + " hosts, " + host +
           " was given " + std::to_string(size);
  if (h.rank <= me || h.rank >= size)
    return "host " + std::to_string(h.rank) + " must not connect to " + host + " (higher ranks connect to lower ones)";
  if (h.streams != o.streams)
    return "streams per peer mismatch: the connecting side uses " + std::to_string(h.streams) + ", " + host + " uses " +
           std::to_string(o.streams) + " (set the same ONET_TCP_STREAMS on every host)";
  if (h.stream >= h.streams) return "stream index " + std::to_string(h.stream) + " out of range";
  bool theirs = h.reserved & kHelloEncrypted, ours = bool(o.secure);
  if (theirs != ours)
    return std::string("data encryption mismatch: the connecting side has it ") + (theirs ? "on" : "off") + ", " +
           host + " has it " + (ours ? "on" : "off") +
           " (set ONET_TLS_CERT/ONET_TLS_KEY/ONET_TLS_CA and ONET_TLS_DATA alike on every host)";
  return "";
}

// Best effort: a fresh socket's send buffer always takes a few hundred bytes at once.
bool send_now(int fd, const void* p, size_t n) { return ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) == ssize_t(n); }

struct Out {  // one socket this rank opens to a lower rank
  int peer = 0, stream = 0;
  SockAddr addr;
  std::string where;  // ip:port
  enum { kIdle, kConnecting, kReply, kDone } st = kIdle;
  int fd = -1;
  int64_t retry_at = 0;
  int backoff_ms = 10;
  std::string last_err = "no answer";
  char buf[sizeof(Hello) + kMaxReasonLen];
  size_t got = 0;
};
struct In {  // a socket a higher rank opened to us, before its hello is read
  int fd = -1;
  std::string from;
  char buf[sizeof(Hello)];
  size_t got = 0;
};

}  // namespace

Status mesh_connect(int listen_fd, const MeshOptions& o, int rank, const std::vector<std::string>& addrs,
                    int64_t deadline_ms, std::vector<std::vector<int>>* fds) {
  const int size = int(addrs.size());
  if (rank < 0 || rank >= size)
    return {Code::kInvalid, "connect: rank " + std::to_string(rank) + " outside a world of " + std::to_string(size)};
  if (o.streams < 1 || o.streams > 64)
    return {Code::kInvalid, "streams per peer must be 1..64, got " + std::to_string(o.streams)};
  fds->assign(size, {});
  for (int p = 0; p < size; p++)
    if (p != rank) (*fds)[p].assign(o.streams, -1);
  // Bounds one secure() (a TLS handshake), so one stuck peer cannot hold the others' for long.
  auto secure_deadline = [&] { return std::min(deadline_ms, now_ms() + 10000); };

  std::vector<std::unique_ptr<Out>> outs;
  for (int p = 0; p < rank; p++) {
    SockAddr a;
    Status st = parse_addr(addrs[p], &a);
    if (!st.ok()) return {Code::kInvalid, "connect: host " + std::to_string(p) + ": " + st.msg};
    for (int s = 0; s < o.streams; s++) {
      auto out = std::make_unique<Out>();
      out->peer = p;
      out->stream = s;
      out->addr = a;
      out->where = addr_string(a);
      outs.push_back(std::move(out));
    }
  }
  std::vector<std::unique_ptr<In>> ins;
  std::vector<std::string> refused;  // connections we refused, for the timeout message
  const int expect_in = (size - 1 - rank) * o.streams;
  int accepted = 0;

  auto cleanup = [&]() {
    for (auto& out : outs)
      if (out->fd >= 0) ::close(out->fd);
    for (auto& in : ins) ::close(in->fd);
    for (auto& v : *fds)
      for (int& fd : v)
        if (fd >= 0) {
          ::close(fd);
          fd = -1;
        }
  };
  auto retry = [&](Out& out, const std::string& why) {
    if (out.fd >= 0) ::close(out.fd);
    out.fd = -1;
    out.st = Out::kIdle;
    out.last_err = why;
    out.retry_at = now_ms() + out.backoff_ms;
    out.backoff_ms = std::min(out.backoff_ms * 2, 500);
  };
  auto sent_hello = [&](Out& out) {
    Hello h = make_hello(o, kHello, rank, size, out.stream, 0);
    if (!send_now(out.fd, &h, sizeof h)) return retry(out, "handshake send failed: " + errno_string(errno));
    out.st = Out::kReply;
    out.got = 0;
  };

  for (;;) {
    int64_t now = now_ms();
    bool outs_done = std::all_of(outs.begin(), outs.end(), [](auto& x) { return x->st == Out::kDone; });
    if (outs_done && accepted == expect_in) break;
    if (now >= deadline_ms) {
      std::string msg;
      int missing = 0;
      for (int p = 0; p < size; p++) {
        if (p == rank) continue;
        int open = 0;
        std::string why;
        for (auto& out : outs)
          if (out->peer == p && out->st != Out::kDone) why = out->last_err;
        for (int fd : (*fds)[p]) open += fd >= 0;
        if (open == o.streams) continue;
        missing++;
        msg += (msg.empty() ? "" : "; ") + std::string("host ") + std::to_string(p) + " at " + addrs[p];
        msg += p < rank ? " unreachable (" + why + ")" : " did not connect to this host";
      }
      std::string text = "connect: host " + std::to_string(rank) + " timed out waiting for " + std::to_string(missing) +
                         " of " + std::to_string(size - 1) + " peers: " + msg;
      if (!refused.empty()) {
        text += "; refused meanwhile:";
        for (auto& r : refused) text += " " + r + ";";
      }
      text += " (check that every host runs, the addresses and the firewall)";
      cleanup();
      return {Code::kTimeout, text};
    }
    int64_t wake = deadline_ms;
    for (auto& out : outs) {
      if (out->st != Out::kIdle) continue;
      if (out->retry_at > now) {
        wake = std::min(wake, out->retry_at);
        continue;
      }
      out->fd = socket(out->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (out->fd < 0) {
        retry(*out, "socket(): " + errno_string(errno));
        continue;
      }
      tune_socket(out->fd, o.socket_buffer);
      if (::connect(out->fd, reinterpret_cast<sockaddr*>(&out->addr.ss), out->addr.len) == 0) {
        sent_hello(*out);
      } else if (errno == EINPROGRESS) {
        out->st = Out::kConnecting;
      } else {
        retry(*out, errno_string(errno));
      }
      if (out->st == Out::kIdle) wake = std::min(wake, out->retry_at);
    }

    std::vector<pollfd> pfd;
    std::vector<void*> who;  // Out* or In*, nullptr for the listener
    std::vector<bool> is_out;
    pfd.push_back({listen_fd, POLLIN, 0});  // accept even when complete: a retried stream replaces its socket
    who.push_back(nullptr);
    is_out.push_back(false);
    for (auto& out : outs) {
      if (out->st == Out::kConnecting || out->st == Out::kReply) {
        pfd.push_back({out->fd, short(out->st == Out::kConnecting ? POLLOUT : POLLIN), 0});
        who.push_back(out.get());
        is_out.push_back(true);
      }
    }
    for (auto& in : ins) {
      pfd.push_back({in->fd, POLLIN, 0});
      who.push_back(in.get());
      is_out.push_back(false);
    }
    int timeout = int(std::clamp<int64_t>(wake - now, 0, 100));
    int n = ::poll(pfd.data(), pfd.size(), timeout);
    if (n <= 0) continue;

    std::vector<In*> finished_ins;
    for (size_t i = 0; i < pfd.size(); i++) {
      if (!pfd[i].revents) continue;
      if (!who[i]) {  // listener
        for (;;) {
          SockAddr from;
          from.len = sizeof from.ss;
          int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&from.ss), &from.len, SOCK_CLOEXEC);
          if (fd < 0) break;
          tune_socket(fd, o.socket_buffer);
          auto in = std::make_unique<In>();
          in->fd = fd;
          in->from = addr_string(from);
          ins.push_back(std::move(in));
        }
        continue;
      }
      if (is_out[i]) {
        Out& out = *static_cast<Out*>(who[i]);
        if (out.st == Out::kConnecting) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(out.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err) retry(out, errno_string(err));
          else sent_hello(out);
          continue;
        }
        size_t want = sizeof(Hello);
        if (out.got >= sizeof(Hello)) want += std::min(reinterpret_cast<Hello*>(out.buf)->reason_len, kMaxReasonLen);
        ssize_t r = ::recv(out.fd, out.buf + out.got, want - out.got, MSG_DONTWAIT);
        if (r == 0) {
          retry(out, "closed during the handshake");
          continue;
        }
        if (r < 0) {
          if (errno != EAGAIN && errno != EINTR) retry(out, errno_string(errno));
          continue;
        }
        out.got += size_t(r);
        if (out.got < sizeof(Hello)) continue;
        Hello h;
        std::memcpy(&h, out.buf, sizeof h);
        std::string where = "host " + std::to_string(out.peer) + " at " + out.where;
        if (h.magic != kHelloMagic) {
          retry(out, "the answer is not an OpenNetworks handshake");
          continue;
        }
        if (h.kind == kReject) {
          if (out.got < sizeof(Hello) + std::min(h.reason_len, kMaxReasonLen)) continue;
          std::string reason(out.buf + sizeof(Hello), out.got - sizeof(Hello));
          cleanup();
          return {Code::kMismatch, "connect: " + where + " refused the connection: " + reason};
        }
        if (h.kind != kAccept || h.rank != out.peer || h.job_hash != o.job_hash || h.version != o.version) {
          std::string why = h.rank != out.peer ? "the address belongs to host " + std::to_string(h.rank)
                                               : "its handshake answer does not match ours";
          cleanup();
          return {Code::kInvalid, "connect: " + where + ": " + why + " (check the address list)"};
        }
        if (o.secure) {
          Status ts = o.secure(out.fd, false, out.peer, out.stream, secure_deadline());
          if (!ts.ok()) {
            cleanup();
            return {ts.code, "connect: " + where + ": " + ts.msg};
          }
        }
        (*fds)[out.peer][out.stream] = out.fd;
        out.fd = -1;
        out.st = Out::kDone;
        continue;
      }
      In& in = *static_cast<In*>(who[i]);
      ssize_t r = ::recv(in.fd, in.buf + in.got, sizeof(Hello) - in.got, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        finished_ins.push_back(&in);
        continue;
      }
      if (r < 0) continue;
      in.got += size_t(r);
      if (in.got < sizeof(Hello)) continue;
      Hello h;
      std::memcpy(&h, in.buf, sizeof h);
      std::string why = refusal(h, o, rank, size);
      if (!why.empty()) {
        if (why.size() > kMaxReasonLen) why.resize(kMaxReasonLen);
        Hello rej = make_hello(o, kReject, rank, size, 0, uint32_t(why.size()));
        std::string msg(reinterpret_cast<char*>(&rej), sizeof rej);
        msg += why;
        send_now(in.fd, msg.data(), msg.size());
        refused.push_back(in.from + " (" + why + ")");
        finished_ins.push_back(&in);
        continue;
      }
      Hello ok = make_hello(o, kAccept, rank, size, h.stream, 0);
      if (!send_now(in.fd, &ok, sizeof ok)) {
        finished_ins.push_back(&in);
        continue;
      }
      if (o.secure) {  // blocking is safe: a connecting side is only ever busy with a handshake that
        // is already under way (as connector) or with a higher rank (as acceptor): no cycle
        Status ts = o.secure(in.fd, true, h.rank, h.stream, secure_deadline());
        if (!ts.ok()) {
          refused.push_back(in.from + " (host " + std::to_string(h.rank) + ": " + ts.msg + ")");
          finished_ins.push_back(&in);
          continue;
        }
      }
      int& slot = (*fds)[h.rank][h.stream];
      if (slot >= 0) ::close(slot);  // the peer retried this stream: the newest socket wins
      else accepted++;
      slot = in.fd;
      in.fd = -1;
      finished_ins.push_back(&in);
    }
    for (In* done : finished_ins) {
      if (done->fd >= 0) ::close(done->fd);
      ins.erase(std::find_if(ins.begin(), ins.end(), [&](auto& x) { return x.get() == done; }));
    }
  }
  for (auto& in : ins) ::close(in->fd);
  return Status::Ok();
}

}  // namespace onet::net
