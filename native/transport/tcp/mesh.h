// Full-mesh connection set-up with the handshake of frame.h, shared by the TCP device (its data
// sockets) and the UCX device (its side channel). Lower ranks accept, higher ranks connect;
// connects retry with backoff until the deadline.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/tcp/frame.h"

namespace onet::net::tcp {

struct MeshOptions {
  uint8_t backend = kBackendTcp;
  uint16_t version = kProtocolVersion;
  uint32_t job_hash = 0;
  int streams = 1;          // sockets per peer
  size_t socket_buffer = 0;  // for tune_socket
};

// On success fds[peer][stream] are connected, handshaken, non-blocking sockets (fds[rank] is
// empty). Errors: kTimeout naming every host not reached as "host i at ip:port"; kMismatch when
// a peer refused us (version, job hash, backend, world size, streams), naming it and why;
// kInvalid for bad arguments. Nothing stays open on error.
Status mesh_connect(int listen_fd, const MeshOptions& opts, int rank, const std::vector<std::string>& addrs,
                    int64_t deadline_ms, std::vector<std::vector<int>>* fds);

}  // namespace onet::net::tcp
