// CPU reduce kernels: out[i] = in[0][i] ∘ in[1][i] ∘ … ∘ in[k-1][i], folded left to right.
// Semantics follow torch (docs/protocol.md §5): wrapping integer sum/prod, NaN-propagating
// min/max, f16/bf16 accumulated in f32 and rounded once, avg = sum / k (integers: truncating),
// premul_sum = Σ in[j]·scale, bitwise ops on integers only.
#pragma once
#include <cstddef>

#include "common/status.h"
#include "common/types.h"

namespace onet::reduce {

// Reduce k ≥ 1 inputs of n elements into out. out may alias inputs[0] (in-place) but no
// other input. Returns kUnsupported for bitwise ops on floats, kInvalid for bad enums.
// `divisor` is what avg divides by (usually k; the caller passes the group size when it
// reduces in several passes). Thread-safe; callers split large arrays across threads.
Status reduce(RedOp op, DType dt, void* out, const void* const* inputs, int k, size_t n, double scale, int divisor);

// Elementwise `out[i] = in[i] ∘ out[i]`-style helpers are deliberately absent: the engine
// always hands every input at once so each is read exactly once.

// Name of the instruction set chosen at start-up: "avx512", "avx2" or "generic".
// ONET_SIMD=generic|avx2|avx512 forces a lower one (tests use it to cover every path).
const char* isa();

}  // namespace onet::reduce
