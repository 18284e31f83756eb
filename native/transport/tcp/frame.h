// Wire formats of the TCP transport (docs/transport.md has the byte tables). All integers are
// little-endian; the structs are packed images of the bytes on the wire. The connection
// handshake before the first frame is common/hello.h (the UCX side channel uses it too).
//
// A data frame is a 56-byte FrameHeader followed by `length` payload bytes. A message of
// `msg_bytes` bytes travels as one or more frames (chunks at `offset`), possibly on several
// sockets of the same pair; `msg_seq` numbers the pair's messages so the receiver can keep
// per-tag order whatever socket a chunk took.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace onet::net::tcp {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire is little-endian; add byte swaps");

constexpr uint32_t kFrameMagic = 0x31464E4F;   // "ONF1"
constexpr size_t kMaxFramePayload = 1u << 20;  // large messages are cut into 1 MiB chunks

enum FrameKind : uint8_t { kFrameData = 1, kFrameHeartbeat = 2 };  // heartbeat: no payload, liveness only
// kFlagSealed: encrypted link; a 16-byte AES-GCM tag follows the header (the header is its
// additional data) and the payload is ciphertext (aead.h); payload_crc is then 0.
enum FrameFlags : uint8_t { kFlagPayloadCrc = 1, kFlagSealed = 2 };  // payload_crc is valid

#pragma pack(push, 1)
struct FrameHeader {
  uint32_t magic;        // kFrameMagic
  uint8_t kind;          // FrameKind
  uint8_t flags;         // FrameFlags
  uint16_t stream;       // index of the socket within the pair (sanity check)
  uint32_t frame_seq;    // per-socket frame counter from 0: a lost or duplicated frame shows
  uint32_t length;       // payload bytes in this frame (<= kMaxFramePayload)
  uint64_t tag;          // the message's tag
  uint64_t msg_seq;      // per-pair message number, from 0
  uint64_t msg_bytes;    // total bytes of the message
  uint64_t offset;       // where this chunk starts in the message
  uint32_t payload_crc;  // CRC32C of the payload (0 when the flag is clear)
  uint32_t header_crc;   // CRC32C of bytes [0, 52) of this header
};
#pragma pack(pop)
static_assert(sizeof(FrameHeader) == 56, "frame header is 56 bytes on the wire");
constexpr size_t kHeaderCrcBytes = offsetof(FrameHeader, header_crc);

// Fill in header_crc; check magic, kind, header_crc and length. Returns "" when the header is
// sound, else what is wrong with it.
void seal_header(FrameHeader* h);
std::string check_header(const FrameHeader& h);

}  // namespace onet::net::tcp
