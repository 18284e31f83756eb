// Picks one kernel table per process (AVX-512, AVX2 or generic) and validates every request
// before a kernel sees it, so the kernels themselves never fail.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "common/gen/settings.h"
#include "reduce/kernels.h"
#include "reduce/reduce.h"

namespace onet::reduce {
namespace {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };
const char* const kIsaName[] = {"generic", "avx2", "avx512"};

Isa best_supported() {
  __builtin_cpu_init();  // we may run before libgcc's own constructor
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::avx2;
  return Isa::generic;
}

// ONET_SIMD can only lower the choice: asking for an ISA the CPU lacks gets the best it has.
Isa choose() {
  Isa best = best_supported();
  const char* env = std::getenv(onet::gen::settings::kSimd.env);
  if (env == nullptr || *env == '\0') return best;
  for (int i = 0; i < 3; ++i) {
    if (std::strcmp(env, kIsaName[i]) == 0) return Isa(i) < best ? Isa(i) : best;
  }
  std::fprintf(stderr, "opennetworks: ONET_SIMD=%s is not one of generic, avx2, avx512; using %s\n", env,
               kIsaName[int(best)]);
  return best;
}

struct Chosen {
  Isa isa;
  const Table* table;
};

const Chosen& chosen() {
  static const Chosen c = [] {
    Isa isa = choose();
    const Table* t = isa == Isa::avx512 ? &avx512::kTable : isa == Isa::avx2 ? &avx2::kTable : &generic::kTable;
    return Chosen{isa, t};
  }();
  return c;
}

// premul_sum on integers multiplies by the scale converted to the integer type (NCCL's
// meaning; torch has no integer premul). Only a scale that converts exactly is accepted, so
// 0.5 on i32 is refused instead of silently becoming 0.
Status check_int_scale(DType dt, double scale) {
  double lo = 0, hi = 0;
  switch (dt) {
    case DType::i8:
      lo = -128;
      hi = 127;
      break;
    case DType::u8:
      lo = 0;
      hi = 255;
      break;
    case DType::i32:
      lo = -2147483648.0;
      hi = 2147483647.0;
      break;
    case DType::i64:
      lo = -9223372036854775808.0;
      hi = 9223372036854775807.0;
      break;
    default: return Status::Ok();
  }
  // hi for i64 rounds up to 2^63 in a double, which does not fit: test with <, not <=.
  const bool fits = dt == DType::i64 ? (scale >= lo && scale < hi) : (scale >= lo && scale <= hi);
  if (std::isfinite(scale) && std::trunc(scale) == scale && fits) return Status::Ok();
  return {Code::kUnsupported, "premul_sum on " + std::string(dtype_name(dt)) + " needs an integral scale that fits " +
                                  dtype_name(dt) + "; got " + std::to_string(scale) +
                                  " (use a float dtype for fractional scales)"};
}

}  // namespace

const char* isa() { return kIsaName[int(chosen().isa)]; }

Status validate(RedOp op, DType dt, const void* out, const void* const* inputs, int k, size_t n, double scale,
                int divisor) {
  const uint32_t o = static_cast<uint32_t>(op), d = static_cast<uint32_t>(dt);
  if (o >= kNumRedOps) return {Code::kInvalid, "reduce: unknown op " + std::to_string(o)};
  if (!dtype_valid(d)) return {Code::kInvalid, "reduce: unknown dtype " + std::to_string(d)};
  if (k < 1) return {Code::kInvalid, "reduce: needs at least one input, got k=" + std::to_string(k)};
  if (op == RedOp::avg && divisor < 1)
    return {Code::kInvalid, "reduce: avg divisor must be >= 1, got " + std::to_string(divisor)};
  if (chosen().table->fn[o][d] == nullptr)
    return {Code::kUnsupported, std::string(redop_name(op)) + " is defined for integer dtypes only, not " +
                                    dtype_name(dt) + "; use sum/prod/min/max/avg on floats"};
  if (op == RedOp::premul_sum) {
    Status st = check_int_scale(dt, scale);
    if (!st.ok()) return st;
  }
  if (n == 0) return Status::Ok();
  if (out == nullptr || inputs == nullptr)
    return {Code::kInvalid, "reduce: null output or input list for " + std::to_string(n) + " elements"};
  for (int j = 0; j < k; ++j)
    if (inputs[j] == nullptr) return {Code::kInvalid, "reduce: input " + std::to_string(j) + " is null"};
  return Status::Ok();
}

// The common request (known op and dtype with a kernel, k >= 1, n > 0, no null pointer, not
// premul_sum, avg with a divisor) goes straight to its kernel; validate() repeats these tests
// and words the error for the rest. Saves the second table lookup and an out-of-line call per
// call (a 4 KiB reduce takes 80-130 ns).
Status reduce(RedOp op, DType dt, void* out, const void* const* inputs, int k, size_t n, double scale, int divisor) {
  const uint32_t o = static_cast<uint32_t>(op), d = static_cast<uint32_t>(dt);
  if (o < kNumRedOps && d < kNumDTypes && k >= 1 && n > 0 && out != nullptr && inputs != nullptr &&
      op != RedOp::premul_sum && (op != RedOp::avg || divisor >= 1)) {
    const Kernel fn = chosen().table->fn[o][d];
    bool inputs_ok = fn != nullptr;
    for (int j = 0; j < k; ++j) inputs_ok &= inputs[j] != nullptr;
    if (inputs_ok) {
      fn(Args{out, inputs, k, n, scale, divisor});
      return Status::Ok();
    }
  }
  Status st = validate(op, dt, out, inputs, k, n, scale, divisor);
  if (!st.ok() || n == 0) return st;
  chosen().table->fn[uint32_t(op)][uint32_t(dt)](Args{out, inputs, k, n, scale, divisor});
  return Status::Ok();
}

}  // namespace onet::reduce
