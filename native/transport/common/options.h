// Making a network device: one DeviceOptions, one factory. Each backend's knobs are a struct of
// its own (TcpOptions, UcxOptions); DeviceOptions holds both and the transport to build, and is
// filled either field by field (tests) or by key from the coordinator (set(): the Node binding
// hands every key of the object src/coordinator/network.ts builds straight through, so a new
// knob is a field here, a row in options.cc's table, and a key there, and nothing in between).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/transport.h"

namespace onet::net {

struct TcpOptions {
  std::string bind_ip = "127.0.0.1";  // never 0.0.0.0 by default; see ONET_IFNAME
  int port = 0;                       // 0: any free port
  int streams = 2;                    // sockets per peer (ONET_TCP_STREAMS)
  bool checksum = true;               // CRC32C per frame (ONET_CHECKSUM)
  size_t zerocopy_bytes = 0;          // MSG_ZEROCOPY above this size; 0 = off
  size_t socket_buffer = 4u << 20;    // SO_SNDBUF/SO_RCVBUF
  uint32_t job_hash = 0;              // peers of another job are refused at handshake
  int heartbeat_ms = 0;               // >0: heartbeat idle links; a peer silent 3x this long fails (ONET_HEARTBEAT_MS)
  // Encrypted data path (docs/transport.md "Encryption"): PEM paths, all three or none. Set:
  // every socket runs a mutual TLS 1.3 handshake, then frames are sealed with AES-256-GCM.
  std::string tls_cert, tls_key, tls_ca;
  // Test-only hooks (native/tests/transport_test.cc); leave at 0 in real use.
  int test_corrupt_every_n_frames = 0;  // flip a payload byte after its CRC (or seal) in every n-th frame sent
  uint16_t test_protocol_version = 0;   // announce this protocol version instead of the real one
};
Status create_tcp_device(const TcpOptions& opts, std::unique_ptr<Device>* out);

struct UcxOptions {
  std::string bind_ip = "127.0.0.1";
  uint32_t job_hash = 0;
  int port = 0;                        // TCP side channel (handshake, worker addresses, heartbeats); 0: any free port
  int heartbeat_ms = 0;                // as in TcpOptions; the heartbeats go over the side channel
  uint16_t test_protocol_version = 0;  // test-only, as in TcpOptions
};
bool ucx_available();  // false when built without UCX
Status create_ucx_device(const UcxOptions& opts, std::unique_ptr<Device>* out);

struct DeviceOptions {
  std::string transport = "tcp";  // "tcp" | "ucx" (ONET_TRANSPORT; "auto" is resolved by the coordinator)
  TcpOptions tcp;
  UcxOptions ucx;
  // Sets the option named `key` (options.cc's table: "bindIp", "port", "jobHash",
  // "heartbeatMs", "streams", "checksum", "tlsCert", ...) from its text ("true"/"false" or
  // "1"/"0" for flags). Keys every backend has set each backend's field. kInvalid naming the key,
  // the value and what is expected, or the known keys for an unknown one.
  Status set(const std::string& key, const std::string& value);
};
std::vector<std::string> device_option_keys();  // what set() accepts, in table order

// Builds the backend o.transport names, not yet connected. kInvalid for an unknown transport;
// the backend's own errors otherwise (ENOTSUP for ucx in a build without UCX).
Status make_device(const DeviceOptions& o, std::unique_ptr<Device>* out);

}  // namespace onet::net
