#include "algo/local/remote.h"

#include <sys/mman.h>

namespace onet {

namespace {

// One reservation per process, never touched: PROT_NONE and MAP_NORESERVE cost address space only.
constexpr size_t kWindowBytes = size_t(1) << 40;

char* window() {
  static char* base = [] {
    void* p = mmap(nullptr, kWindowBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }();
  return base;
}

}  // namespace

char* RemoteMap::add(uint32_t pid, uint64_t addr, size_t bytes, int rank) {
  // A range inside one already named (in place: an output that is the input, or a block of it) gets
  // the matching stand-in, so the plan builders see the aliasing they check for and skip self-copies.
  for (const Remote& r : items_)
    if (r.pid == pid && addr >= r.addr && bytes <= r.bytes && addr - r.addr <= r.bytes - bytes)
      return const_cast<char*>(r.fake) + (addr - r.addr);
  char* base = window();
  size_t span = (bytes + 63) & ~size_t(63);
  if (!base || span < bytes || span > kWindowBytes - used_) return nullptr;
  // Keep the address's offset within 64 bytes, so a stand-in is as aligned as the real buffer.
  size_t at = used_ + (addr & 63);
  if (at + bytes > kWindowBytes) return nullptr;
  used_ = at + span;
  items_.push_back({base + at, bytes, pid, addr, rank});
  return base + at;
}

const Remote* RemoteMap::find(const char* p) const {
  char* base = window();
  if (items_.empty() || p < base || p >= base + kWindowBytes) return nullptr;
  for (const Remote& r : items_)
    if (p >= r.fake && p < r.fake + r.bytes) return &r;
  return nullptr;
}

}  // namespace onet
