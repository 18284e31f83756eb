// Full-mesh connection set-up with the handshake of frame.h, shared by the TCP device (its data
// sockets) and the UCX device (its side channel). Lower ranks accept, higher ranks connect;
// connects retry with backoff until the deadline.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/tcp/frame.h"
#include "transport/tcp/tls.h"

namespace onet::net::tcp {

struct MeshOptions {
  uint8_t backend = kBackendTcp;
  uint16_t version = kProtocolVersion;
  uint32_t job_hash = 0;
  int streams = 1;          // sockets per peer
  size_t socket_buffer = 0;  // for tune_socket
  // Set: every socket runs a mutual TLS 1.3 handshake right after the hello exchange and gets
  // its frame keys (tls.h); the hello says so (Hello::reserved bit 0) so a mismatch is refused.
  TlsContext* tls = nullptr;
};
constexpr uint32_t kHelloEncrypted = 1;  // Hello::reserved bit: data frames are sealed

// On success fds[peer][stream] are connected, handshaken, non-blocking sockets (fds[rank] is
// empty). Errors: kTimeout naming every host not reached as "host i at ip:port"; kMismatch when
// a peer refused us (version, job hash, backend, world size, streams), naming it and why;
// kInvalid for bad arguments. Nothing stays open on error. With opts.tls, keys[peer][stream]
// gets each socket's frame keys; a TLS failure is kMismatch on the connecting side (naming the
// host and why) and a refusal the accepting side lists if its deadline passes.
Status mesh_connect(int listen_fd, const MeshOptions& opts, int rank, const std::vector<std::string>& addrs,
                    int64_t deadline_ms, std::vector<std::vector<int>>* fds,
                    std::vector<std::vector<StreamKeys>>* keys = nullptr);

}  // namespace onet::net::tcp
