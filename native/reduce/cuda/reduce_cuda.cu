// Host side of the CUDA reduce: the device probe, argument checks (shared with the CPU
// path through reduce::validate), the 16-byte alignment split, and dispatch into kernels.cu.
#include "reduce/cuda/reduce_cuda.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include <cuda_runtime.h>

#include "reduce/cuda/launch.h"
#include "reduce/kernels.h"

namespace onet::reduce::cuda {
namespace {

struct Probe {
  int count;
  cudaError_t err;
};

// Once per process: cudaGetDeviceCount loads the driver, and answers an error (no driver,
// insufficient driver, no device) rather than failing when there is none.
const Probe& probe() {
  static const Probe p = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // not sticky, but leave no error behind for the caller
      n = 0;
    }
    return Probe{n, e};
  }();
  return p;
}

std::string hex(const void* p) {
  char b[32];
  std::snprintf(b, sizeof b, "%p", p);
  return b;
}

}  // namespace

int device_count() { return probe().count; }
bool available() { return probe().count > 0; }

const char* unavailable_reason() {
  const Probe& p = probe();
  if (p.count > 0) return "";
  return p.err != cudaSuccess ? cudaGetErrorString(p.err) : "the CUDA runtime reports no device";
}

int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return 132;
  int n = cache[dev].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 132;
    cache[dev].store(n, std::memory_order_relaxed);
  }
  return n;
}

Status reduce(RedOp op, DType dt, void* out, const void* const* inputs, int k, size_t n, double scale, int divisor,
              void* stream) {
  Status st = validate(op, dt, out, inputs, k, n, scale, divisor);
  if (!st.ok()) return st;
  if (k > kMaxInputs)
    return {Code::kInvalid, "reduce (CUDA): at most " + std::to_string(kMaxInputs) + " inputs per call, got k=" +
                                std::to_string(k) + "; reduce the first " + std::to_string(kMaxInputs) +
                                " into out, then out with the rest (out may alias inputs[0])"};
  if (n == 0) return Status::Ok();
  const size_t es = dtype_size(dt);
  if (uintptr_t(out) % es != 0)
    return {Code::kInvalid, "reduce (CUDA): out " + hex(out) + " is not aligned to its " + std::to_string(es) +
                                "-byte " + dtype_name(dt) + " elements"};
  for (int j = 0; j < k; ++j)
    if (uintptr_t(inputs[j]) % es != 0)
      return {Code::kInvalid, "reduce (CUDA): input " + std::to_string(j) + " " + hex(inputs[j]) +
                                  " is not aligned to its " + std::to_string(es) + "-byte " + dtype_name(dt) +
                                  " elements"};
  if (!available())
    return {Code::kUnsupported, std::string("reduce (CUDA): no CUDA device (") + unavailable_reason() +
                                    "); reduce host memory with onet::reduce::reduce instead"};
  const Launcher fn = kTable.fn[uint32_t(op)][uint32_t(dt)];
  if (fn == nullptr)  // validate() accepted it, so the CPU table has the cell and so must we
    return {Code::kInternal, std::string("reduce (CUDA): no kernel for ") + redop_name(op) + " on " + dtype_name(dt)};

  Params p{};
  p.out = out;
  for (int j = 0; j < k; ++j) p.in[j] = inputs[j];
  p.k = k;
  p.divisor = divisor;
  p.n = n;
  p.scale = scale;
  // 16-byte vectors need every pointer at the same offset from a 16-byte boundary; the
  // head (elements before out's boundary) and the tail go element by element.
  const uintptr_t mis = uintptr_t(out) % 16;
  bool same = true;
  for (int j = 0; j < k; ++j) same = same && uintptr_t(inputs[j]) % 16 == mis;
  const size_t per_vec = 16 / es;
  if (same) {
    p.head = std::min(n, ((16 - mis) % 16) / es);
    p.nvec = (n - p.head) / per_vec;
  } else {
    p.head = n;
    p.nvec = 0;
  }
  const cudaError_t e = fn(p, static_cast<cudaStream_t>(stream));
  if (e != cudaSuccess)
    return {Code::kInternal, std::string("reduce (CUDA): launching ") + redop_name(op) + " on " + dtype_name(dt) +
                                 " (k=" + std::to_string(k) + ", n=" + std::to_string(n) +
                                 ") failed: " + cudaGetErrorString(e)};
  return Status::Ok();
}

}  // namespace onet::reduce::cuda
