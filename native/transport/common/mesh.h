// Full-mesh connection set-up with the handshake of hello.h, shared by the TCP device (its data
// sockets) and the UCX device (its side channel). Lower ranks accept, higher ranks connect;
// connects retry with backoff until the deadline.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/common/hello.h"

namespace onet::net {

struct MeshOptions {
  uint8_t backend = kBackendTcp;
  uint16_t version = kProtocolVersion;
  uint32_t job_hash = 0;
  int streams = 1;           // sockets per peer
  size_t socket_buffer = 0;  // for tune_socket
  // Set: runs on every socket right after the hello exchange (tcp: the TLS 1.3 handshake that
  // gives the socket its frame keys, tcp/tls.h); the hello says so (Hello::reserved bit 0), so
  // a peer without it is refused. `server`: this side accepted the socket. It may block until
  // deadline_ms; an error is kMismatch on the connecting side and a refusal on the accepting one.
  std::function<Status(int fd, bool server, int peer, int stream, int64_t deadline_ms)> secure;
};
constexpr uint32_t kHelloEncrypted = 1;  // Hello::reserved bit: MeshOptions::secure is set (tcp: sealed frames)

// On success fds[peer][stream] are connected, handshaken, non-blocking sockets (fds[rank] is
// empty). Errors: kTimeout naming every host not reached as "host i at ip:port"; kMismatch when
// a peer refused us (version, job hash, backend, world size, streams), naming it and why;
// kInvalid for bad arguments. Nothing stays open on error. A failure of opts.secure is
// kMismatch on the connecting side (naming the host and why) and a refusal the accepting side
// lists if its deadline passes.
Status mesh_connect(int listen_fd, const MeshOptions& opts, int rank, const std::vector<std::string>& addrs,
                    int64_t deadline_ms, std::vector<std::vector<int>>* fds);

}  // namespace onet::net
