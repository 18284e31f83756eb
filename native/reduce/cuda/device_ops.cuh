// Device-side element semantics of the reduce ops, mirroring reduce/kernels_impl.inc line for
// line so that a GPU result equals the CPU kernel's bit for bit (NaN payloads aside: a GPU
// makes the canonical NaN where x86 keeps an operand's payload).
//
// Floating-point arithmetic goes through the _rn intrinsics, which nvcc never contracts into
// an FMA (premul_sum's x·s + acc must round twice, as torch and the CPU kernels do); the
// library is also built with -fmad=false so plain operators elsewhere cannot fuse either.
#pragma once
#include <cstdint>
#include <type_traits>

#include <cuda_fp16.h>

#include "common/types.h"

namespace onet::reduce::cuda {

// ---- dtypes: S how an element is stored, A what it accumulates in --------------------
template <class S_, class A_>
struct Plain {
  using S = S_;
  using A = A_;
  static __device__ __forceinline__ A load(S x) { return x; }
  static __device__ __forceinline__ S store(A x) { return x; }
};

struct F16 {  // IEEE half: hardware conversions, round to nearest even, subnormals kept
  using S = uint16_t;
  using A = float;
  static __device__ __forceinline__ float load(uint16_t h) { return __half2float(__ushort_as_half(h)); }
  static __device__ __forceinline__ uint16_t store(float f) { return __half_as_ushort(__float2half_rn(f)); }
};

struct BF16 {  // the CPU's integer rounding, so even NaN handling matches
  using S = uint16_t;
  using A = float;
  static __device__ __forceinline__ float load(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }
  static __device__ __forceinline__ uint16_t store(float f) {
    const uint32_t u = __float_as_uint(f);
    const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return uint16_t(f != f ? (u >> 16) | 0x0040u : rounded);
  }
};

template <DType D>
struct Traits;
template <>
struct Traits<DType::f32> : Plain<float, float> {};
template <>
struct Traits<DType::f64> : Plain<double, double> {};
template <>
struct Traits<DType::f16> : F16 {};
template <>
struct Traits<DType::bf16> : BF16 {};
template <>
struct Traits<DType::i8> : Plain<int8_t, int8_t> {};
template <>
struct Traits<DType::u8> : Plain<uint8_t, uint8_t> {};
template <>
struct Traits<DType::i32> : Plain<int32_t, int32_t> {};
template <>
struct Traits<DType::i64> : Plain<int64_t, int64_t> {};

// ---- arithmetic: integers wrap (done unsigned), floats round each step ------------------
template <class A>
__device__ __forceinline__ A add(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return A(U(U(a) + U(b)));
  } else if constexpr (sizeof(A) == 4) {
    return __fadd_rn(a, b);
  } else {
    return __dadd_rn(a, b);
  }
}

template <class A>
__device__ __forceinline__ A mul(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::conditional_t<(sizeof(A) < 4), uint32_t, std::make_unsigned_t<A>>;
    return A(U(U(a) * U(b)));
  } else if constexpr (sizeof(A) == 4) {
    return __fmul_rn(a, b);
  } else {
    return __dmul_rn(a, b);
  }
}

template <class A>
__device__ __forceinline__ auto bits(A x) {
  if constexpr (sizeof(A) == 4) return __float_as_uint(x);
  else return (unsigned long long)__double_as_longlong(x);
}
template <class A, class U>
__device__ __forceinline__ A from_bits(U u) {
  if constexpr (sizeof(A) == 4) return __uint_as_float(u);
  else return __longlong_as_double((long long)u);
}

// NaN-propagating, -0 below +0 (IEEE 754-2019 minimum/maximum), as the CPU kernels.
template <class A>
__device__ __forceinline__ A min_nan(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    return b < a ? b : a;
  } else {
    A r = b < a ? b : a;
    r = a == b ? from_bits<A>(bits(a) | bits(b)) : r;
    return (a != a || b != b) ? add(a, b) : r;
  }
}

template <class A>
__device__ __forceinline__ A max_nan(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    return a < b ? b : a;
  } else {
    A r = a < b ? b : a;
    r = a == b ? from_bits<A>(bits(a) & bits(b)) : r;
    return (a != a || b != b) ? add(a, b) : r;
  }
}

// ---- ops: one functor per name in ONET_REDUCE_OPS (reduce/kernels.h) --------------------
#define ONET_CUDA_OP(NAME, EXPR, PREMUL, AVG, BITWISE)                  \
  template <class A>                                                    \
  struct Op_##NAME {                                                    \
    static constexpr bool kPremul = PREMUL;                             \
    static constexpr bool kAvg = AVG;                                   \
    static constexpr bool kBitwise = BITWISE;                           \
    static __device__ __forceinline__ A fold(A a, A b) { return EXPR; } \
  };
ONET_CUDA_OP(sum, add(a, b), false, false, false)
ONET_CUDA_OP(prod, mul(a, b), false, false, false)
ONET_CUDA_OP(min, min_nan(a, b), false, false, false)
ONET_CUDA_OP(max, max_nan(a, b), false, false, false)
ONET_CUDA_OP(avg, add(a, b), false, true, false)
ONET_CUDA_OP(premul_sum, add(a, b), true, false, false)
ONET_CUDA_OP(band, A(a& b), false, false, true)
ONET_CUDA_OP(bor, A(a | b), false, false, true)
ONET_CUDA_OP(bxor, A(a ^ b), false, false, true)
#undef ONET_CUDA_OP

template <class Op, class A>
__device__ __forceinline__ A pre(A x, A scale) {
  if constexpr (Op::kPremul) return mul(x, scale);
  else return x;
}

template <class Op, class A>
__device__ __forceinline__ A finish(A r, int divisor) {
  if constexpr (!Op::kAvg) {
    return r;
  } else if constexpr (std::is_integral_v<A>) {  // truncating, like the CPU kernels and torch
    using W = std::conditional_t<(sizeof(A) < 8), int32_t, int64_t>;
    return A(W(r) / W(divisor));
  } else if constexpr (sizeof(A) == 4) {
    return __fdiv_rn(r, float(divisor));
  } else {
    return __ddiv_rn(r, double(divisor));
  }
}

// premul_sum's scale in A; reduce/dispatch.cc checked that an integer scale is integral
// and fits the dtype.
template <class A>
__device__ __forceinline__ A convert_scale(double scale) {
  if constexpr (std::is_integral_v<A>) return A((long long)scale);
  else return A(scale);
}

}  // namespace onet::reduce::cuda
