// Internal to native/reduce: the kernel table each ISA file exports and dispatch.cc picks from.
// Callers outside this folder use reduce.h only.
#pragma once
#include <cstddef>

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

// fn[op][dtype]; nullptr marks a pair with no meaning (bitwise ops on floats).
struct Table {
  Kernel fn[kNumRedOps][kNumDTypes];
};

namespace generic { extern const Table kTable; }
namespace avx2 { extern const Table kTable; }
namespace avx512 { extern const Table kTable; }

}  // namespace onet::reduce
