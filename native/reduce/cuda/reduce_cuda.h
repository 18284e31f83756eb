// CUDA reduce kernels: out[i] = in[0][i] ∘ in[1][i] ∘ … ∘ in[k-1][i] on the GPU, with the
// semantics of the CPU kernels (reduce/reduce.h) bit for bit: wrapping integer sum/prod,
// NaN-propagating min/max, f16/bf16 accumulated in f32 and rounded once, avg = sum / divisor
// (integers truncating), premul_sum = Σ in[j]·scale, bitwise ops on integers only.
//
// Plain C++ header: no CUDA header leaks out (the stream is a void*), so the engine and the
// Node addon can include it without nvcc. Built into the static library onet_cuda when
// CMake finds nvcc (ONET_CUDA=auto|on|off); docs/gpu.md has the design.
#pragma once
#include <cstddef>

#include "common/status.h"
#include "common/types.h"

namespace onet::reduce::cuda {

// One kernel reads up to this many inputs (the local ranks of one host), each exactly once.
constexpr int kMaxInputs = 16;

// True when the CUDA runtime finds at least one device (cudaGetDeviceCount > 0). False
// without a device or a driver; never throws, and is cheap after the first call.
bool available();

// Number of CUDA devices (0 without a device or driver) and, when there are none, why.
int device_count();
const char* unavailable_reason();

// Enqueues the reduction of k inputs of n elements into out on `stream` (a cudaStream_t;
// nullptr is the legacy default stream) and returns without waiting for it. Every pointer
// must be device-accessible memory of the current device (cudaMalloc, CUDA IPC-mapped or
// managed) and aligned to the element size. out may alias inputs[0] but no other input.
// Arguments are checked exactly as the CPU reduce() checks them (same codes and messages),
// plus 1 ≤ k ≤ kMaxInputs; kUnsupported when no CUDA device is present, kInternal when the
// launch fails. Errors inside the kernel surface at the next synchronisation of the stream.
// Fastest when out and every input share their address modulo 16 bytes (16-byte loads);
// otherwise the kernel falls back to element-wide loads.
Status reduce(RedOp op, DType dt, void* out, const void* const* inputs, int k, size_t n, double scale, int divisor,
              void* stream);

}  // namespace onet::reduce::cuda
