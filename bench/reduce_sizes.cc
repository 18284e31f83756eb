// Bytes per second of the CPU reduce kernels across sizes (4 KiB .. 64 MiB per input), f32 vs
// f16 vs bf16, for sum/prod/min/max, bytes read + written ((k+1)·bytes per input). Each rep times
// f32, f16 and bf16 back to back (so a burst of outside load hits all three alike); the table
// shows the best of R reps after a warm one. Small sizes repeat inside one timing.
// Build and run (any build dir; the kernels are compiled exactly as CMakeLists.txt does):
//   B=/tmp/build-bench; mkdir -p $B && cmake -S . -B $B -DONET_BUILD_TESTS=OFF >/dev/null &&
//   cmake --build $B -j2 --target onet_native &&
//   g++ -O2 -std=c++17 -Inative bench/reduce_sizes.cc $B/libonet_native.a -lpthread -lrt -o $B/reduce_sizes &&
//   $B/reduce_sizes [k=2] [reps=7] [ops=sum,prod,min,max]
// ONET_SIMD=generic|avx2 picks a lower ISA. Ratios "f16/f32" compare bytes/s at equal bytes per input.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "reduce/reduce.h"

using namespace onet;

namespace {

// k inputs and one output of `bytes` each, filled with small values that keep every op finite.
struct Case {
  DType dt;
  size_t n;
  std::vector<std::vector<uint8_t>> ins;
  std::vector<uint8_t> out;
  std::vector<const void*> p;
  Case(DType d, size_t bytes, int k) : dt(d), ins(k, std::vector<uint8_t>(bytes)), out(bytes), p(k) {
    const size_t esz = dt == DType::f32 ? 4 : 2;
    n = bytes / esz;
    for (int j = 0; j < k; ++j) {
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
      p[j] = ins[j].data();
    }
  }
  double time(RedOp op, int k, int inner) {
    auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < inner; ++it) reduce::reduce(op, dt, out.data(), p.data(), k, n, 1.0, k);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner;
  }
};

bool parse_op(const std::string& s, RedOp* op) {
  const RedOp all[] = {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max};
  for (RedOp o : all)
    if (s == redop_name(o)) return *op = o, true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const int k = argc > 1 ? std::atoi(argv[1]) : 2, reps = argc > 2 ? std::atoi(argv[2]) : 7;
  std::vector<RedOp> ops;
  std::string list = argc > 3 ? argv[3] : "sum,prod,min,max";
  for (size_t s = 0; s <= list.size();) {
    size_t e = list.find(',', s);
    if (e == std::string::npos) e = list.size();
    RedOp op;
    if (!parse_op(list.substr(s, e - s), &op)) {
      std::fprintf(stderr, "reduce_sizes: unknown op '%s' in '%s'; use sum,prod,min,max\n",
                   list.substr(s, e - s).c_str(), list.c_str());
      return 2;
    }
    ops.push_back(op);
    s = e + 1;
  }
  if (k < 1 || reps < 1) {
    std::fprintf(stderr, "usage: reduce_sizes [k>=1] [reps>=1] [ops]\n");
    return 2;
  }
  std::printf("isa=%s k=%d (GB/s, bytes read + written, best of %d)\n", reduce::isa(), k, reps);
  std::printf("| per input | op | f32 | f16 | bf16 | f16/f32 | bf16/f32 |\n|---|---|---|---|---|---|---|\n");
  for (size_t b = 4 << 10; b <= (64u << 20); b *= 4) {
    Case cs[3] = {{DType::f32, b, k}, {DType::f16, b, k}, {DType::bf16, b, k}};
    const int inner = int(std::max<size_t>(1, (64u << 20) / (b * (k + 1))));
    for (RedOp op : ops) {
      double best[3] = {1e30, 1e30, 1e30};
      for (int r = 0; r <= reps; ++r)
        for (int d = 0; d < 3; ++d) {
          double s = cs[d].time(op, k, inner);
          if (r) best[d] = std::min(best[d], s);
        }
      double g[3];
      for (int d = 0; d < 3; ++d) g[d] = double(b) * (k + 1) / best[d] / 1e9;
      char sz[32];
      if (b >= (1u << 20)) std::snprintf(sz, sizeof sz, "%zu MiB", b >> 20);
      else std::snprintf(sz, sizeof sz, "%zu KiB", b >> 10);
      std::printf("| %s | %s | %.1f | %.1f | %.1f | %.2f | %.2f |\n", sz, redop_name(op), g[0], g[1], g[2],
                  g[1] / g[0], g[2] / g[0]);
      std::fflush(stdout);
    }
  }
}
