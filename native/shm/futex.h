// Shared (inter-process) futex wait/wake. Never FUTEX_PRIVATE_FLAG: the words live in
// segments mapped by several processes.
#pragma once
#include <atomic>
#include <cstdint>

namespace onet::shm {

// Sleep while *word == expected, at most timeout_us (<0 = forever). Returns false on timeout.
bool futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_us);
void futex_wake(std::atomic<uint32_t>* word, int n);

// Spin-then-yield helper: true while spinning should go on (bounded by spin_us).
struct Spinner {
  int64_t deadline_ns;
  explicit Spinner(int64_t spin_us);
  bool keep_spinning() const;
};
int64_t now_ns();

}  // namespace onet::shm
