// Bytes per second of the CPU reduce kernels across sizes (64 KiB .. 64 MiB per input), f32 vs
// f16 vs bf16 sum, bytes read + written ((k+1)·bytes per input). Best of R after a warm run.
// Build and run (any build dir; the kernels are compiled exactly as CMakeLists.txt does):
//   B=/tmp/build-bench; mkdir -p $B && cmake -S . -B $B -DONET_BUILD_TESTS=OFF >/dev/null &&
//   cmake --build $B -j2 --target onet_native && g++ -O2 -std=c++17 -Inative bench/reduce_sizes.cc \
//     $B/libonet_native.a -lpthread -lrt -o $B/reduce_sizes && $B/reduce_sizes [k=2] [reps=15]
// ONET_SIMD=generic|avx2 picks a lower ISA. Ratios "f16/f32" compare bytes/s at equal bytes per input.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "reduce/reduce.h"

using namespace onet;

static double run(DType dt, size_t bytes, int k, int reps) {
  const size_t esz = dt == DType::f32 ? 4 : 2, n = bytes / esz;
  std::vector<std::vector<uint8_t>> ins(k, std::vector<uint8_t>(bytes));
  std::vector<uint8_t> out(bytes);
  for (int j = 0; j < k; ++j)
    for (size_t i = 0; i < n; ++i) {
      float f = float(int((i * 7 + j * 13) % 1000) - 500) * 0.01f;
      uint32_t u;
      std::memcpy(&u, &f, 4);
      if (esz == 4) std::memcpy(ins[j].data() + 4 * i, &u, 4);
      else {
        uint16_t h = dt == DType::bf16 ? uint16_t(u >> 16) : uint16_t(0x3C00 + (i % 512));
        std::memcpy(ins[j].data() + 2 * i, &h, 2);
      }
    }
  std::vector<const void*> p(k);
  for (int j = 0; j < k; ++j) p[j] = ins[j].data();
  // Small sizes repeat inside one timing so the clock is not the measurement.
  const int inner = int(std::max<size_t>(1, (64u << 20) / (bytes * (k + 1))));
  double best = 1e30;
  for (int r = 0; r <= reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < inner; ++it) reduce::reduce(RedOp::sum, dt, out.data(), p.data(), k, n, 1.0, k);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner;
    if (r) best = std::min(best, s);
  }
  return double(bytes) * (k + 1) / best / 1e9;
}

int main(int argc, char** argv) {
  const int k = argc > 1 ? std::atoi(argv[1]) : 2, reps = argc > 2 ? std::atoi(argv[2]) : 15;
  std::printf("isa=%s k=%d (GB/s, bytes read + written, best of %d)\n", reduce::isa(), k, reps);
  std::printf("| per input | f32 | f16 | bf16 | f16/f32 | bf16/f32 |\n|---|---|---|---|---|---|\n");
  for (size_t b = 64 << 10; b <= (64u << 20); b *= 4) {
    double f = run(DType::f32, b, k, reps), h = run(DType::f16, b, k, reps), bf = run(DType::bf16, b, k, reps);
    char sz[32];
    if (b >= (1u << 20)) std::snprintf(sz, sizeof sz, "%zu MiB", b >> 20);
    else std::snprintf(sz, sizeof sz, "%zu KiB", b >> 10);
    std::printf("| %s | %.1f | %.1f | %.1f | %.2f | %.2f |\n", sz, f, h, bf, h / f, bf / f);
  }
}
