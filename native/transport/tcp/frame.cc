#include "transport/tcp/frame.h"

#include "transport/tcp/crc32c.h"

namespace onet::net::tcp {

void seal_header(FrameHeader* h) { h->header_crc = crc32c(0, h, kHeaderCrcBytes); }

std::string check_header(const FrameHeader& h) {
  if (h.magic != kFrameMagic) return "bad frame magic (stream out of sync or not an OpenNetworks peer)";
  if (h.header_crc != crc32c(0, &h, kHeaderCrcBytes)) return "frame header checksum mismatch";
  if (h.kind == kFrameHeartbeat && h.length) return "heartbeat frame with a payload";
  if (h.kind != kFrameData && h.kind != kFrameHeartbeat) return "unknown frame kind " + std::to_string(h.kind);
  if (h.length > kMaxFramePayload) return "frame length " + std::to_string(h.length) + " over the 1 MiB limit";
  if (h.offset > h.msg_bytes || h.length > h.msg_bytes - h.offset)
    return "frame chunk [" + std::to_string(h.offset) + ", +" + std::to_string(h.length) + ") outside a message of " +
           std::to_string(h.msg_bytes) + " bytes";
  return "";
}

}  // namespace onet::net::tcp
