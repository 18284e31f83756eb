// Internal to native/reduce/cuda: what reduce_cuda.cu (checks, dispatch) hands kernels.cu
// (one kernel per op × dtype cell). Callers outside this folder use reduce_cuda.h.
#pragma once
#include <cstddef>

#include <cuda_runtime_api.h>

#include "common/types.h"
#include "reduce/cuda/reduce_cuda.h"

namespace onet::reduce::cuda {

// Kernel arguments, passed by value (≈ 180 bytes of parameter space). The n elements split
// into a scalar head (until out reaches a 16-byte boundary), `nvec` 16-byte vectors, and a
// scalar tail. When the inputs do not share out's alignment, nvec = 0 and head = n.
struct Params {
  void* out;
  const void* in[kMaxInputs];
  int k;
  int divisor;
  size_t n;
  size_t head;
  size_t nvec;
  double scale;
};

// Launches the cell's kernel on `stream`, the grid sized from p and the current device;
// returns the launch error, if any.
using Launcher = cudaError_t (*)(const Params& p, cudaStream_t stream);

// fn[op][dtype]; nullptr where the CPU table has none (bitwise ops on floats).
struct Table {
  Launcher fn[kNumRedOps][kNumDTypes];
};
extern const Table kTable;

// Streaming multiprocessors of the current device (cached per device).
int sm_count();

}  // namespace onet::reduce::cuda
