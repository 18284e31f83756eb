// CRC32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41, reflected 0x82F63B78) of frame
// payloads. SSE4.2's crc32 instruction when the CPU has it (checked once at run time), a
// slicing-by-8 table otherwise; both give the same value.
#pragma once
#include <cstddef>
#include <cstdint>

namespace onet::net::tcp {

// Continue a CRC: crc32c(crc32c(0, a, n), b, m) == crc32c(0, a‖b, n + m). Start with 0.
uint32_t crc32c(uint32_t crc, const void* data, size_t bytes);
uint32_t crc32c_table(uint32_t crc, const void* data, size_t bytes);  // the fallback, for tests
bool crc32c_hw();                                                     // true when the SSE4.2 path is in use

}  // namespace onet::net::tcp
