// A POSIX shared-memory segment: created 0600 by the coordinator, mapped by one rank, its
// name unlinked as soon as both sides hold a mapping (docs/protocol.md §3) so a crash of
// either side leaves nothing in /dev/shm.
#pragma once
#include <cstddef>
#include <string>

#include "common/status.h"

namespace onet::shm {

class Segment {
 public:
  Segment() = default;
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // O_CREAT|O_EXCL; an existing name is an error (a live job owns it).
  static Status create(const std::string& name, size_t bytes, Segment* out);
  static Status open(const std::string& name, Segment* out);  // map an existing segment
  void unlink();                                              // remove the name; mappings stay valid
  void* base() const { return base_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  void* base_ = nullptr;
  size_t size_ = 0;
  bool linked_ = false;
};

// Remove /dev/shm/onet-* segments whose coordinator pid (in the name) is no longer alive.
// Returns how many were removed. `only_job` limits it to one job when non-empty.
int clean_stale(const std::string& only_job);

}  // namespace onet::shm
