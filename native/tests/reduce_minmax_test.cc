// min and max kernels (native/reduce/kernels_minmax.inc for f32/f64; GCC's own vectors for the
// integer dtypes) on every ISA table this CPU has, two ways:
// 1. against the generic table's scalar code (min_nan/max_nan in kernels_impl.inc), bit for bit,
//    NaN payloads and signs included: the vector forms must answer exactly as the scalar code;
// 2. against an independent reference written here: NaN in → NaN out, -0 < +0, otherwise the
//    smaller (larger) value; integers compare as their type.
// f32, f64, i8, u8, i32, i64 × min, max × k ∈ {1,2,3,5,8} × n around every vector step and
// tail (0 .. 65, 127 .. 129, 4097) × aligned / odd element offsets / in place, with guard
// elements after the output that must stay untouched. Float inputs are built to hit the edge
// cases: ±0 against each other, ±inf, quiet and signalling NaNs of both signs with payloads,
// subnormals, equal operands, and random bits. Exit status is non-zero when any check failed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "reduce/kernels.h"
#include "tests/cpu_isa.h"

using namespace onet;
using namespace onet::reduce;

namespace {

long g_checks = 0, g_failures = 0;

template <class T>
using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint8_t>>;

template <class T>
Bits<T> bits(T x) {
  Bits<T> b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

template <class T>
T from_bits(Bits<T> b) {
  T x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// Edge values of a float type: ±0, ±1, ±inf, quiet/signalling NaNs of both signs (with payloads),
// the largest finite, the smallest subnormal, and one value repeated so equal operands are common.
template <class T>
std::vector<T> specials() {
  using B = Bits<T>;
  constexpr int kMant = sizeof(T) == 4 ? 23 : 52;
  const B sign = B(1) << (8 * sizeof(T) - 1), exp = (sign - 1) & ~((B(1) << kMant) - 1), quiet = B(1) << (kMant - 1);
  const B raw[] = {B(0),           sign,           exp,
                   exp | sign,     exp | quiet,    exp | quiet | sign,
                   exp | 1,        exp | 1 | sign, exp | quiet | 5,
                   exp | 3 | sign, exp - 1,        (exp - 1) | sign,
                   B(1),           B(1) | sign};
  std::vector<T> v;
  for (B b : raw) v.push_back(from_bits<T>(b));
  for (T x : {T(1), T(-1), T(0.5), T(-2)}) v.push_back(x);
  return v;
}

// k arrays of n elements; pattern picks which cases dominate (floats: 0 random bits, 1 edge
// values, 2 small values and ±0 so ties and zeros of both signs meet, 3 random finite values).
template <class T>
std::vector<std::vector<T>> inputs(int k, size_t n, int pattern, std::mt19937_64& rng) {
  std::vector<std::vector<T>> in(k, std::vector<T>(n));
  for (int j = 0; j < k; ++j)
    for (size_t i = 0; i < n; ++i) {
      const uint64_t r = rng();
      T v;
      if constexpr (std::is_floating_point_v<T>) {
        static const std::vector<T> sp = specials<T>();
        switch (pattern) {
          case 0: v = from_bits<T>(Bits<T>(r)); break;
          case 1: v = (r >> 40) % 5 ? sp[r % sp.size()] : from_bits<T>(Bits<T>(r >> 3)); break;
          case 2: v = (r & 1 ? T(-1) : T(1)) * T(int(r >> 8) % 3); break;
          default: v = T(double(int64_t(r >> 20) % 2000001 - 1000000) * 1e-3); break;
        }
      } else {
        v = pattern == 2 ? T(int(r % 5) - 2) : T(r);
      }
      in[j][i] = v;
    }
  return in;
}

// The independent reference: NaN wins; -0 orders below +0.
template <class T>
T ref_fold(RedOp op, T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return from_bits<T>(~Bits<T>(0));  // any NaN
    if (a == b) return (op == RedOp::min) == bool(std::signbit(a)) ? a : b;
  }
  if (op == RedOp::min) return b < a ? b : a;
  return a < b ? b : a;
}

template <class T>
bool same(T want, T got, bool any_nan) {
  if constexpr (std::is_floating_point_v<T>)
    if (any_nan && std::isnan(want)) return std::isnan(got);
  return bits(want) == bits(got);
}

template <class T>
std::string show(T x) {
  char s[64];
  std::snprintf(s, sizeof s, "%0*llx", int(2 * sizeof(T)), (unsigned long long)bits(x));
  return s;
}

template <class T>
void check_dtype(const char* isa, const Table& t, DType dt) {
  std::mt19937_64 rng(41);
  const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 4097};
  constexpr size_t kGuard = 40;
  for (RedOp op : {RedOp::min, RedOp::max})
    for (int k : {1, 2, 3, 5, 8})
      for (size_t n : lens)
        for (int layout = 0; layout < 3; ++layout)
          for (int pattern = 0; pattern < 4; ++pattern) {
            auto data = inputs<T>(k, n + 8, pattern, rng);  // 8 spare elements for the offsets
            std::vector<const T*> in(k);
            for (int j = 0; j < k; ++j) in[j] = data[j].data() + (layout == 1 ? 1 + 2 * (j % 4) : 0);
            // Reference answers first: the in-place layout overwrites in[0].
            std::vector<T> scalar(n + 1), ref(n);
            std::vector<const void*> p(in.begin(), in.end());
            generic::kTable.fn[uint32_t(op)][uint32_t(dt)](Args{scalar.data(), p.data(), k, n, 1.0, k});
            for (size_t i = 0; i < n; ++i) {
              T r = in[0][i];
              for (int j = 1; j < k; ++j) r = ref_fold(op, r, in[j][i]);
              ref[i] = r;
            }
            std::vector<T> obuf(n + 8 + kGuard, from_bits<T>(Bits<T>(0x5A5A5A5A5A5A5A5Aull)));
            T* out = obuf.data() + (layout == 1 ? 3 : 0);
            if (layout == 2) {  // in place: out is in[0], with guard elements after it
              obuf.assign(data[0].begin(), data[0].end());
              obuf.resize(n + 8 + kGuard, from_bits<T>(Bits<T>(0x5A5A5A5A5A5A5A5Aull)));
              out = obuf.data();
              p[0] = out;
            }
            const std::vector<T> guard_before(out + n, out + n + kGuard);
            t.fn[uint32_t(op)][uint32_t(dt)](Args{out, p.data(), k, n, 1.0, k});
            long bad_scalar = 0, bad_ref = 0;
            size_t first = 0;
            for (size_t i = 0; i < n; ++i) {
              const bool s = same(scalar[i], out[i], true), r = same(ref[i], out[i], true);
              if ((!s || !r) && !bad_scalar && !bad_ref) first = i;
              bad_scalar += !s;
              bad_ref += !r;
            }
            const bool guard_ok = std::memcmp(out + n, guard_before.data(), kGuard * sizeof(T)) == 0;
            ++g_checks;
            if ((bad_scalar || bad_ref || !guard_ok) && ++g_failures <= 40)
              std::printf(
                  "FAIL %s %s %s k=%d n=%zu layout=%d pattern=%d: %ld differ from scalar, %ld from "
                  "reference%s; first [%zu] scalar %s ref %s got %s\n",
                  isa, dtype_name(dt), redop_name(op), k, n, layout, pattern, bad_scalar, bad_ref,
                  guard_ok ? "" : ", wrote past the end", first, n ? show(scalar[first]).c_str() : "-",
                  n ? show(ref[first]).c_str() : "-", n ? show(out[first]).c_str() : "-");
          }
}

void check_table(const char* isa, const Table& t) {
  check_dtype<float>(isa, t, DType::f32);
  check_dtype<double>(isa, t, DType::f64);
  check_dtype<int8_t>(isa, t, DType::i8);
  check_dtype<uint8_t>(isa, t, DType::u8);
  check_dtype<int32_t>(isa, t, DType::i32);
  check_dtype<int64_t>(isa, t, DType::i64);
}

}  // namespace

int main() {
  const auto [avx2, avx512] = onet::tests::cpu_isa();
  check_table("generic", generic::kTable);
  if (avx2) check_table("avx2", avx2::kTable);
  else std::printf("SKIP avx2: this CPU lacks AVX2/FMA/F16C\n");
  if (avx512) check_table("avx512", avx512::kTable);
  else std::printf("SKIP avx512: this CPU lacks AVX-512 F/BW/VL/DQ\n");
  std::printf("%ld checks, %ld failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
