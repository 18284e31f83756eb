// The connection handshake shared by every backend that meets its peers over TCP (the tcp data
// sockets, the ucx side channel): docs/transport.md "Connections and handshake" has the byte
// table. Little-endian, packed; magic and version stay at offsets 0 and 4 in every version.
#pragma once
#include <cstddef>
#include <cstdint>

namespace onet::net {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire is little-endian; add byte swaps");

constexpr uint32_t kHelloMagic = 0x31484E4F;  // "ONH1"
constexpr uint16_t kProtocolVersion = 1;
constexpr uint32_t kMaxReasonLen = 1024;

#pragma pack(push, 1)
// Connection handshake: the connecting side sends a Hello (kind kHello); the accepting side
// answers kAccept, or kReject followed by `reason_len` bytes of UTF-8 text, then closes.
// magic and version stay at offsets 0 and 4 in every future version.
enum HelloKind : uint8_t { kHello = 1, kAccept = 2, kReject = 3 };
enum Backend : uint8_t { kBackendTcp = 1, kBackendUcx = 2 };
struct Hello {
  uint32_t magic;       // kHelloMagic
  uint16_t version;     // kProtocolVersion
  uint8_t kind;         // HelloKind
  uint8_t backend;      // Backend: a tcp device never pairs with a ucx one
  uint32_t job_hash;    // DeviceOptions job_hash of the sender
  int32_t rank;         // the sender's device rank
  int32_t size;         // the world size the sender was given
  uint16_t stream;      // which of the pair's sockets this is
  uint16_t streams;     // sockets per pair the sender uses
  uint32_t reason_len;  // kReject: bytes of text that follow
  uint32_t reserved;    // 0
};
#pragma pack(pop)
static_assert(sizeof(Hello) == 32, "hello is 32 bytes on the wire");

}  // namespace onet::net
