#include "transport/common/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace onet::net {
namespace {

size_t sysctl_size(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  unsigned long long v = 0;
  if (std::fscanf(f, "%llu", &v) != 1) v = 0;
  std::fclose(f);
  return size_t(v);
}

}  // namespace

std::string errno_string(int err) {
  char buf[128];
  // GNU strerror_r returns the message pointer (may not use buf).
  return strerror_r(err, buf, sizeof buf);
}

Status parse_ip(const std::string& ip, int port, SockAddr* out) {
  if (port < 0 || port > 65535) return {Code::kInvalid, "port " + std::to_string(port) + " out of range 0..65535"};
  *out = SockAddr{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(uint16_t(port));
    out->len = sizeof(sockaddr_in);
    return Status::Ok();
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(uint16_t(port));
    out->len = sizeof(sockaddr_in6);
    return Status::Ok();
  }
  return {Code::kInvalid, "'" + ip + "' is not a numeric IPv4 or IPv6 address (set ONET_IFNAME or pass an IP)"};
}

Status parse_addr(const std::string& s, SockAddr* out) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return {Code::kInvalid, "address '" + s + "' is not [ipv6]:port"};
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return {Code::kInvalid, "address '" + s + "' has no ':port'"};
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || p <= 0 || p > 65535)
    return {Code::kInvalid, "address '" + s + "' has no valid port (1..65535)"};
  Status st = parse_ip(host, int(p), out);
  if (!st.ok()) st.msg = "address '" + s + "': " + st.msg;
  return st;
}

std::string addr_string(const SockAddr& a) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a.ss.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(&a.ss);
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a.ss);
  inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
  return "[" + std::string(ip) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

bool set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

void tune_socket(int fd, size_t buffer) {
  set_nonblocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // An explicit SO_*BUF switches autotuning off; only worth it when the kernel grants it.
  static const size_t wmax = sysctl_size("/proc/sys/net/core/wmem_max");
  static const size_t rmax = sysctl_size("/proc/sys/net/core/rmem_max");
  int b = buffer > (1u << 30) ? (1 << 30) : int(buffer);
  if (buffer && buffer <= wmax) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
  if (buffer && buffer <= rmax) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
}

Status make_listener(const std::string& ip, int port, size_t buffer, int* out, SockAddr* bound) {
  SockAddr a;
  Status st = parse_ip(ip, port, &a);
  if (!st.ok()) return st;
  int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {Code::kInternal, "socket(): " + errno_string(errno)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  tune_socket(fd, buffer);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len) != 0) {
    int e = errno;
    ::close(fd);
    return {Code::kInvalid, "cannot bind " + addr_string(a) + ": " + errno_string(e) +
                                (e == EADDRNOTAVAIL ? " (no interface has this IP; check ONET_IFNAME)" : "")};
  }
  if (listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    ::close(fd);
    return {Code::kInternal, "listen on " + addr_string(a) + ": " + errno_string(e)};
  }
  bound->len = sizeof bound->ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound->ss), &bound->len);
  *out = fd;
  return Status::Ok();
}

}  // namespace onet::net
