// Internal to native/reduce: the kernel table each ISA file exports and dispatch.cc picks from.
// Callers outside this folder use reduce.h only.
#pragma once
#include <cstddef>

#include "common/status.h"
#include "common/types.h"

namespace onet::reduce {

// Arguments already validated by dispatch.cc: k ≥ 1, n > 0, divisor ≥ 1, and for integer
// premul_sum a scale that is integral and fits the dtype.
struct Args {
  void* out;
  const void* const* in;
  int k;
  size_t n;
  double scale;
  int divisor;
};

using Kernel = void (*)(const Args&);

// The op × dtype lists every kernel table is generated from: the CPU ISAs (kernels_impl.inc)
// and the CUDA kernels (cuda/kernels.cu). Bitwise ops on float dtypes stay empty cells.
// Both are spec/enums.json's lists (common/gen/enums.h, via types.h): a new dtype or op needs its kernel.
#define ONET_REDUCE_OPS(X) ONET_REDOPS(X)
#define ONET_REDUCE_DTYPES(X) ONET_DTYPES(X)

// Checks a request exactly as reduce() does (reduce.h), so the CUDA entry point
// (cuda/reduce_cuda.h) refuses the same inputs with the same messages.
Status validate(RedOp op, DType dt, const void* out, const void* const* inputs, int k, size_t n, double scale,
                int divisor);

// fn[op][dtype]; nullptr marks a pair with no meaning (bitwise ops on floats).
struct Table {
  Kernel fn[kNumRedOps][kNumDTypes];
};

namespace generic {
extern const Table kTable;
}
namespace avx2 {
extern const Table kTable;
}
namespace avx512 {
extern const Table kTable;
}

}  // namespace onet::reduce
