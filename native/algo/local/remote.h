// Memory of other processes that a plan reads or writes by cross-memory attach (single-copy
// transfers of ordinary tensors: slot flag cma, docs/performance.md). Plan steps name such a
// range by a stand-in pointer in a reserved, inaccessible part of our own address space, so the
// plan builders' pointer arithmetic works unchanged and a stand-in never equals a real buffer;
// the executor (engine/cma.h) turns steps that touch one into process_vm_readv/writev.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace onet {

struct Remote {
  const char* fake;  // stand-in for addr
  size_t bytes;
  uint32_t pid;
  uint64_t addr;  // in process pid
  int rank;       // global rank, for messages
};

class RemoteMap {
 public:
  bool empty() const { return items_.empty(); }
  // A stand-in for [addr, addr + bytes) in process pid; nullptr when the reserved window is full.
  char* add(uint32_t pid, uint64_t addr, size_t bytes, int rank);
  // The range holding p, or nullptr when p is an ordinary pointer.
  const Remote* find(const char* p) const;

 private:
  std::vector<Remote> items_;
  size_t used_ = 0;
};

}  // namespace onet
