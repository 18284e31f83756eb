// CHECK for the small single-threaded native tests (native/tests/*_test.cc): counts every check, prints
// each failure with its file and line and goes on; check_summary() prints "<test>: N checks, M failed"
// and returns the exit status (non-zero when any CHECK failed).
#pragma once

#include <cstdio>

namespace onet::test {
inline int g_checks = 0, g_failures = 0;

inline int check_summary(const char* test) {
  std::printf("%s: %d checks, %d failed\n", test, g_checks, g_failures);
  return g_failures ? 1 : 0;
}
}  // namespace onet::test

#define CHECK(cond)                                               \
  do {                                                            \
    ++onet::test::g_checks;                                       \
    if (!(cond)) {                                                \
      ++onet::test::g_failures;                                   \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                             \
  } while (0)
