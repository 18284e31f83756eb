#include "shm/futex.h"

#include <linux/futex.h>
#include <cerrno>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace onet::shm {

bool futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_us) {
  timespec ts{}, *tsp = nullptr;
  if (timeout_us >= 0) {
    ts.tv_sec = timeout_us / 1000000;
    ts.tv_nsec = (timeout_us % 1000000) * 1000;
    tsp = &ts;
  }
  long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
  return !(r == -1 && errno == ETIMEDOUT);
}

void futex_wake(std::atomic<uint32_t>* word, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, n, nullptr, nullptr, 0);
}

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Spinner::Spinner(int64_t spin_us) : deadline_ns(now_ns() + spin_us * 1000) {}
bool Spinner::keep_spinning() const { return now_ns() < deadline_ns; }

}  // namespace onet::shm
