// CRC32C of compressed frames (codec.h). SSE4.2's crc32 instruction when the CPU has it (checked
// once), a byte table otherwise; both give the same value. Kept here rather than borrowed from
// transport/tcp so that codec/ depends on nothing but common/.
#include <cstring>

#include "codec/codec.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace onet::codec {
namespace {

struct Table {
  uint32_t t[256];
  Table() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

uint32_t crc_table(uint32_t crc, const unsigned char* p, size_t n) {
  static const Table tab;
  for (size_t i = 0; i < n; i++) crc = tab.t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_hw(uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = uint32_t(c);
  for (; n; n--, p++) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  crc = hw ? crc_hw(crc, p, bytes) : crc_table(crc, p, bytes);
#else
  crc = crc_table(crc, p, bytes);
#endif
  return ~crc;
}

}  // namespace onet::codec
