// Which of the reduce kernels' instruction sets this CPU runs (the same rule as reduce/dispatch.cc), for the
// kernel tests that check every table the CPU can run.
#pragma once

namespace onet::tests {

struct CpuIsa {
  bool avx2, avx512;
};

inline CpuIsa cpu_isa() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return {avx2, avx512};
}

}  // namespace onet::tests
