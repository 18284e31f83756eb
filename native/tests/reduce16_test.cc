// The 16-bit float kernels' vector paths (native/reduce/kernels_vec16.inc: AVX2+F16C, AVX-512,
// AVX-512 BF16) against the generic table's scalar code, bit for bit: f16 and bf16 × every
// float op × k ∈ {1,2,3,5,8} × n ∈ {1,63,64,4097}, on inputs built to hit the rounding edges:
// exact ties (even and odd, so round-to-nearest-even is checked both ways), subnormal sums (the
// AVX-512 BF16 path must fall back for them), sums that overflow to inf, ±inf, NaN (quiet,
// signalling), ±0, and arbitrary bit patterns. The generic table is itself checked against
// torch by test/reduce.test.ts. A CPU without AVX2/AVX-512 skips those tables (printed).
// Any NaN equals any NaN (payloads are not part of the contract); otherwise bits must match.
// Exit status is non-zero when any check failed.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "reduce/kernels.h"

using namespace onet;
using namespace onet::reduce;

namespace {

long g_checks = 0, g_failures = 0;

bool is_nan(DType dt, uint16_t v) {
  return dt == DType::f16 ? (v & 0x7C00) == 0x7C00 && (v & 0x3FF) : (v & 0x7F80) == 0x7F80 && (v & 0x7F);
}

// Inputs for k arrays of n elements; pattern p picks which edge cases dominate.
std::vector<std::vector<uint16_t>> inputs(DType dt, int k, size_t n, int pattern, std::mt19937& rng) {
  const bool h = dt == DType::f16;
  const uint16_t one = h ? 0x3C00 : 0x3F80, inf = h ? 0x7C00 : 0x7F80, qnan = h ? 0x7E00 : 0x7FC0,
                 snan = h ? 0x7C01 : 0x7F81, max = h ? 0x7BFF : 0x7F7F, tiny = 1, mant = h ? 10 : 7;
  std::vector<std::vector<uint16_t>> in(k, std::vector<uint16_t>(n));
  for (int j = 0; j < k; ++j)
    for (size_t i = 0; i < n; ++i) {
      uint32_t r = rng();
      uint16_t v;
      switch (pattern) {
        case 0: v = uint16_t(r); break;  // any bits
        case 1:  // ties: 1 + m ulp (m = 0..3, odd and even) plus half an ulp of 1 (or a hair more)
          v = j == 0 ? uint16_t(one + (r % 4)) : uint16_t((one - ((mant + 1) << mant)) + (r & 1 ? 0 : 1));
          break;
        case 2: v = uint16_t((r % 8) | ((r >> 8) & 1 ? 0x8000 : 0)); break;  // subnormals, ±0
        default: {
          const uint16_t sp[] = {inf, uint16_t(inf | 0x8000), qnan, snan, max, uint16_t(max | 0x8000), tiny, 0x8000,
                                 one};
          v = (r >> 20) % 4 ? sp[r % 9] : uint16_t(r >> 3);
        }
      }
      in[j][i] = v;
    }
  return in;
}

void compare(const char* isa, const Table& t) {
  std::mt19937 rng(17);
  const RedOp ops[] = {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max, RedOp::avg, RedOp::premul_sum};
  for (DType dt : {DType::f16, DType::bf16})
    for (RedOp op : ops)
      for (int k : {1, 2, 3, 5, 8})
        for (size_t n : {size_t(1), size_t(63), size_t(64), size_t(4097)})
          for (int pattern = 0; pattern < 4; ++pattern) {
            auto in = inputs(dt, k, n, pattern, rng);
            std::vector<const void*> p(k);
            for (int j = 0; j < k; ++j) p[j] = in[j].data();
            std::vector<uint16_t> want(n), got(n);
            const double scale = op == RedOp::premul_sum ? 0.3 : 1.0;
            generic::kTable.fn[uint32_t(op)][uint32_t(dt)](Args{want.data(), p.data(), k, n, scale, k});
            t.fn[uint32_t(op)][uint32_t(dt)](Args{got.data(), p.data(), k, n, scale, k});
            long bad = 0;
            size_t first = 0;
            for (size_t i = 0; i < n; ++i)
              if (want[i] != got[i] && !(is_nan(dt, want[i]) && is_nan(dt, got[i])) && !bad++) first = i;
            ++g_checks;
            if (bad && ++g_failures <= 20)
              std::printf("FAIL %s %s %s k=%d n=%zu pattern=%d: %ld differ, first [%zu] want %04x got %04x\n", isa,
                          dtype_name(dt), redop_name(op), k, n, pattern, bad, first, want[first], got[first]);
          }
}

}  // namespace

int main() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx2) compare("avx2", avx2::kTable);
  else std::printf("SKIP avx2: this CPU lacks AVX2/FMA/F16C\n");
  if (avx512) compare("avx512", avx512::kTable);
  else std::printf("SKIP avx512: this CPU lacks AVX-512 F/BW/VL/DQ\n");
  std::printf("avx512bf16 path %s\n", avx512 && __builtin_cpu_supports("avx512bf16") ? "checked" : "not on this CPU");
  std::printf("%ld checks, %ld failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
