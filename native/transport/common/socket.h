// Small POSIX socket helpers shared by the TCP and UCX devices (the ucx side channel): numeric "ip:port" parsing
// (IPv4 or "[v6]:port"), a listener bound to exactly one address, non-blocking tuned sockets.
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace onet::net {

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

// "10.0.0.1:4000" or "[fe80::1]:4000"; numeric only (no DNS: a coordinator passes addresses).
Status parse_addr(const std::string& s, SockAddr* out);
Status parse_ip(const std::string& ip, int port, SockAddr* out);
std::string addr_string(const SockAddr& a);
std::string errno_string(int err);

// Non-blocking, TCP_NODELAY, SO_SNDBUF/SO_RCVBUF = buffer when the kernel allows that much
// (net.core.[rw]mem_max); otherwise the kernel's autotuning is left on, which goes further.
void tune_socket(int fd, size_t buffer);
bool set_nonblocking(int fd);

// A listening socket on ip:port (port 0: any free one), tuned like tune_socket so accepted
// sockets inherit the buffer sizes. *bound gets the real address.
Status make_listener(const std::string& ip, int port, size_t buffer, int* fd, SockAddr* bound);

}  // namespace onet::net
