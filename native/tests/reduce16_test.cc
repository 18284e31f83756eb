// The 16-bit float kernels' vector paths (native/reduce/kernels_vec16.inc: AVX2+F16C, AVX-512,
// AVX-512 BF16) against the generic table's scalar code, bit for bit: f16 and bf16 × every
// float op × k ∈ {1,2,3,5,8} × n ∈ {1,63,64,4097}, on inputs built to hit the rounding edges:
// exact ties (even and odd, so round-to-nearest-even is checked both ways), subnormal sums (the
// AVX-512 BF16 path must fall back for them), sums that overflow to inf, ±inf, NaN (quiet,
// signalling), ±0, and arbitrary bit patterns. The generic table is itself checked against
// torch by test/reduce.test.ts. A CPU without AVX2/AVX-512 skips those tables (printed).
// Then every table (generic included) against an independent scalar reference written here
// (decode to float, fold left to right in float, round once to nearest even; f16 through the
// compiler's _Float16), at lengths around each vector step (0, 1, 15, 16, 17, 31..33, 63..65,
// 4097), with inputs and output at odd element offsets (unaligned), in place (out = in[0]), and
// with guard elements after the output that must stay untouched.
// Any NaN equals any NaN (payloads are not part of the contract); otherwise bits must match.
// Exit status is non-zero when any check failed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "common/gen/settings.h"
#include "reduce/kernels.h"
#include "tests/cpu_isa.h"

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

// ---- independent reference ----------------------------------------------------------------

float ref_load(DType dt, uint16_t v) {
  if (dt == DType::bf16) {
    const uint32_t u = uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  _Float16 h;
  std::memcpy(&h, &v, 2);
  return float(h);
}

uint16_t ref_store(DType dt, float f) {
  if (dt == DType::f16) {
    const _Float16 h = _Float16(f);  // libgcc's conversion: round to nearest even
    uint16_t v;
    std::memcpy(&v, &h, 2);
    return v;
  }
  if (std::isnan(f)) return 0x7FC0;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t low = u & 0xFFFF, keep = u >> 16;
  const bool up = low > 0x8000 || (low == 0x8000 && (keep & 1));  // nearest, ties to even
  return uint16_t(keep + (up ? 1 : 0));
}

// torch.minimum/maximum on floats: NaN wins; -0 orders below +0.
float ref_min(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return NAN;
  if (a == b) return std::signbit(a) ? a : b;
  return b < a ? b : a;
}
float ref_max(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return NAN;
  if (a == b) return std::signbit(a) ? b : a;
  return a < b ? b : a;
}

float ref_fold(RedOp op, float r, float x) {
  switch (op) {
    case RedOp::prod: return r * x;
    case RedOp::min: return ref_min(r, x);
    case RedOp::max: return ref_max(r, x);
    default: return r + x;  // sum, avg, premul_sum
  }
}

std::vector<uint16_t> reference(DType dt, RedOp op, const std::vector<const uint16_t*>& in, size_t n, float scale,
                                int divisor) {
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    float r = 0;
    for (size_t j = 0; j < in.size(); ++j) {
      float x = ref_load(dt, in[j][i]);
      if (op == RedOp::premul_sum) x = x * scale;
      r = j == 0 ? x : ref_fold(op, r, x);
    }
    if (op == RedOp::avg) r = r / float(divisor);
    out[i] = ref_store(dt, r);
  }
  return out;
}

// Layouts: 0 = every array at the start of its buffer (64-byte aligned by the allocator's
// usual alignment or not, no matter); 1 = each array at a different odd element offset, so
// no two share an alignment; 2 = in place, out is in[0].
void against_reference(const char* isa, const Table& t) {
  std::mt19937 rng(29);
  const RedOp ops[] = {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max, RedOp::avg, RedOp::premul_sum};
  const size_t lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4097};
  constexpr size_t kGuard = 40;
  constexpr uint16_t kCanary = 0x5A5A;
  for (DType dt : {DType::f16, DType::bf16})
    for (RedOp op : ops)
      for (int k : {1, 2, 3, 5, 8})
        for (size_t n : lens)
          for (int layout = 0; layout < 3; ++layout)
            for (int pattern = 0; pattern < 4; ++pattern) {
              auto data = inputs(dt, k, n + 8, pattern, rng);  // 8 spare elements for the offsets
              std::vector<const uint16_t*> in(k);
              for (int j = 0; j < k; ++j) in[j] = data[j].data() + (layout == 1 ? 1 + 2 * (j % 4) : 0);
              const double scale = op == RedOp::premul_sum ? 0.3 : 1.0;
              const auto want = reference(dt, op, in, n, float(scale), k);
              std::vector<uint16_t> obuf(n + 8 + kGuard, kCanary);
              uint16_t* out = obuf.data() + (layout == 1 ? 3 : 0);
              if (layout == 2) {  // in place: out is in[0], with a guard copy after it
                obuf.assign(data[0].begin(), data[0].end());
                obuf.resize(n + 8 + kGuard, kCanary);
                out = obuf.data();
                in[0] = out;
              }
              const uint16_t* guard = out + n;
              std::vector<uint16_t> guard_before(guard, guard + kGuard);
              std::vector<const void*> p(in.begin(), in.end());
              t.fn[uint32_t(op)][uint32_t(dt)](Args{out, p.data(), k, n, scale, k});
              long bad = 0;
              size_t first = 0;
              for (size_t i = 0; i < n; ++i)
                if (want[i] != out[i] && !(is_nan(dt, want[i]) && is_nan(dt, out[i])) && !bad++) first = i;
              const bool guard_ok = std::memcmp(guard, guard_before.data(), kGuard * 2) == 0;
              ++g_checks;
              if ((bad || !guard_ok) && ++g_failures <= 40)
                std::printf(
                    "FAIL ref %s %s %s k=%d n=%zu layout=%d pattern=%d: %ld differ%s, first [%zu] want %04x "
                    "got %04x\n",
                    isa, dtype_name(dt), redop_name(op), k, n, layout, pattern, bad,
                    guard_ok ? "" : ", wrote past the end", first, n ? want[first] : 0, n ? out[first] : 0);
            }
}

}  // namespace

int main() {
  const auto [avx2, avx512] = onet::tests::cpu_isa();
  against_reference("generic", generic::kTable);
  if (avx2) against_reference("avx2", avx2::kTable);
  if (avx512) against_reference("avx512", avx512::kTable);
  if (avx2) compare("avx2", avx2::kTable);
  else std::printf("SKIP avx2: this CPU lacks AVX2/FMA/F16C\n");
  if (avx512) compare("avx512", avx512::kTable);
  else std::printf("SKIP avx512: this CPU lacks AVX-512 F/BW/VL/DQ\n");
  const char* no_bf16 = std::getenv(onet::gen::settings::kTestNoAvx512bf16.env);
  std::printf("avx512bf16 path %s\n", !(avx512 && __builtin_cpu_supports("avx512bf16")) ? "not on this CPU"
                                      : no_bf16 && std::strcmp(no_bf16, "1") == 0 ? "off (ONET_TEST_NO_AVX512BF16=1)"
                                                                                  : "checked");
  std::printf("%ld checks, %ld failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
