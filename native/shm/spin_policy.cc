#include "shm/spin_policy.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

#include "common/gen/settings.h"

namespace onet::shm {

int parse_runnable(const char* s) {
  // Skip three fields (the load averages), then read "R/T".
  for (int f = 0; f < 3; ++f) {
    while (*s == ' ') ++s;
    if (!*s) return -1;
    while (*s && *s != ' ') ++s;
  }
  while (*s == ' ') ++s;
  if (*s < '0' || *s > '9') return -1;
  char* end = nullptr;
  long r = std::strtol(s, &end, 10);
  return end && *end == '/' && r >= 0 && r < (1L << 30) ? int(r) : -1;
}

int read_runnable() {
  int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  return parse_runnable(buf);
}

SpinLimits spin_limits_from_env() {
  SpinLimits lim;
  const char* env = std::getenv(gen::settings::kSpinMaxUs.env);
  const char* v = env && *env ? env : gen::settings::kSpinMaxUs.def;
  char* end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  if (end == v || *end) x = std::strtoll(gen::settings::kSpinMaxUs.def, nullptr, 10);
  lim.max_us = x < 0 ? 0 : x;
  return lim;
}

LoadSampler::LoadSampler() {
  cpu_set_t set;
  CPU_ZERO(&set);
  cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : int(sysconf(_SC_NPROCESSORS_ONLN));
  if (cores < 1) cores = 1;
}

int LoadSampler::sample(int64_t now_ns) {
  if (now_ns - last_ns < kLoadSampleNs) return runnable;
  last_ns = now_ns;
  int r = read_runnable();
  if (r < 0) r = cores + 2;  // no /proc: behave as crowded, the old safe default
  runnable = prev < 0 ? r : (r + prev + 1) / 2;
  prev = r;
  return runnable;
}

}  // namespace onet::shm
