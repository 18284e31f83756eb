// CUDA reduce kernels (native/reduce/cuda) against the CPU kernels (native/reduce), which
// test/reduce.test.ts checks against torch.
//
// Always (no GPU needed): argument checks — the CUDA entry point refuses what the CPU one
// refuses, with the same codes and messages, plus k > 16, misaligned pointers, and "no CUDA
// device" when there is none. Then, without a device: prints "skipped: no CUDA device" and
// exits 0.
//
// With a device:
//   sweep     every op × dtype (ONET_REDUCE_OPS × ONET_REDUCE_DTYPES, the lists the kernels
//             are generated from) × k ∈ {1,2,3,5,8} × n ∈ {0,1,4097,1<<20}
//   variants  k ∈ {3,16}, n = 4097: in place (out == in[0]); every pointer one element past
//             a 16-byte boundary (scalar head, then vectors); inputs at mixed alignments (the
//             element-wise fallback); a non-default stream
// Inputs mix ordinary values with NaN, ±inf, ±0, subnormals, the largest finite values and
// wrapping integers. Results must equal the CPU kernel's bit for bit — the CPU folds in[0] ∘
// in[1] ∘ … left to right, f16/bf16 in f32 rounded once, exactly as the GPU does — with one
// exception: any NaN equals any NaN (a GPU produces the canonical NaN where x86 keeps an
// operand's payload; payloads are not part of the contract). No tolerance otherwise. The 64
// bytes after out (and the element before it, where out is offset) must be untouched.
//
// Then bandwidth: sum over every dtype and k ∈ {1,2,4,8,16} on 128 MiB buffers, in bytes
// moved ((k+1)·size per call) per second, as a fraction of a device-to-device cudaMemcpy of
// the same size (2·size per call). Goal ≥ 85%; printed, never asserted.
//
//   cmake -S . -B /tmp/build-cuda -DONET_CUDA=on && cmake --build /tmp/build-cuda --target cuda_reduce_test
//   /tmp/build-cuda/cuda_reduce_test        (ONET_CUDA_BENCH=0 skips the bandwidth table)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "reduce/cuda/reduce_cuda.h"
#include "reduce/kernels.h"  // ONET_REDUCE_OPS / ONET_REDUCE_DTYPES
#include "reduce/reduce.h"

using namespace onet;
namespace gpu = onet::reduce::cuda;

namespace {

int g_failures = 0;
int g_checks = 0;

void fail(const std::string& what) {
  ++g_failures;
  if (g_failures <= 30) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

void expect(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) fail(what);
}

#define CK(call)                                                                                         \
  do {                                                                                                   \
    cudaError_t e_ = (call);                                                                             \
    if (e_ != cudaSuccess) {                                                                             \
      std::fprintf(stderr, "FAIL: %s: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                                      \
    }                                                                                                    \
  } while (0)

const RedOp kOps[] = {
#define X(OP) RedOp::OP,
    ONET_REDUCE_OPS(X)
#undef X
};
const DType kDTypes[] = {
#define X(DT) DType::DT,
    ONET_REDUCE_DTYPES(X)
#undef X
};

bool bitwise(RedOp op) { return op == RedOp::band || op == RedOp::bor || op == RedOp::bxor; }
bool defined(RedOp op, DType dt) { return !(bitwise(op) && dtype_is_float(dt)); }

// The scales of test/reduce.test.ts: 0.1 is inexact in every float type; integers get an
// integral scale, negative where the type is signed.
double scale_for(DType dt) {
  switch (dt) {
    case DType::i8: return -3;
    case DType::u8: return 3;
    case DType::i32: return -7;
    case DType::i64: return 5;
    default: return 0.1;
  }
}
int divisor_for(int k) { return k == 5 ? 7 : k; }  // 5 divides by 7: the engine's multi-pass case

std::string name(RedOp op, DType dt) { return std::string(redop_name(op)) + "/" + dtype_name(dt); }

// ---- inputs -------------------------------------------------------------------------------

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

// A float of `ebits` exponent and `mbits` mantissa bits as raw bits: mostly ordinary values
// near 1 (so sums and products stay finite and exercise rounding), 1 in 32 special.
uint64_t float_bits(Rng& r, int ebits, int mbits) {
  const uint64_t bias = (1ull << (ebits - 1)) - 1, emax = (1ull << ebits) - 1;
  const uint64_t mmask = (1ull << mbits) - 1, sign = 1ull << (ebits + mbits);
  const uint64_t x = r.next();
  const uint64_t s = (x & 1) ? sign : 0;
  if ((x >> 1) % 32 == 0) {
    switch ((x >> 8) % 9) {
      case 0: return (emax << mbits) | (1ull << (mbits - 1)) | ((x >> 20) & (mmask >> 1));  // quiet NaN
      case 1: return s | (emax << mbits) | 1;                                               // signalling NaN
      case 2: return s | (emax << mbits);                                                   // ±inf
      case 3: return s;                                                                     // ±0
      case 4: return s | ((x >> 20) & mmask) | 1;                                           // subnormal
      case 5: return s | ((emax - 1) << mbits) | mmask;                                     // largest finite
      case 6: return s | (1ull << mbits);                                                   // smallest normal
      default: return (x >> 16) & (sign | (emax << mbits) | mmask);                         // any pattern
    }
  }
  const uint64_t e = bias - 4 + (x >> 8) % 9;
  return s | (e << mbits) | ((x >> 24) & mmask);
}

std::vector<uint8_t> make_input(DType dt, int j, size_t n) {
  Rng r{0x1234567ull * uint64_t(j + 1) + uint64_t(dt) * 7919};
  const size_t es = dtype_size(dt);
  std::vector<uint8_t> v(n * es);
  for (size_t i = 0; i < n; ++i) {
    uint64_t bits = 0;
    switch (dt) {
      case DType::f32: bits = float_bits(r, 8, 23); break;
      case DType::f64: bits = float_bits(r, 11, 52); break;
      case DType::f16: bits = float_bits(r, 5, 10); break;
      case DType::bf16: bits = float_bits(r, 8, 7); break;
      default: {  // integers: half small (products stay interesting), half any bits (wrapping)
        const uint64_t x = r.next();
        bits = (x & 1) ? uint64_t(int64_t((x >> 8) % 7) - 3) : (x >> 1);
      }
    }
    std::memcpy(v.data() + i * es, &bits, es);  // little-endian: the low es bytes
  }
  return v;
}

bool is_nan(DType dt, const uint8_t* p) {
  switch (dt) {
    case DType::f32: {
      float f;
      std::memcpy(&f, p, 4);
      return f != f;
    }
    case DType::f64: {
      double d;
      std::memcpy(&d, p, 8);
      return d != d;
    }
    case DType::f16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
    }
    case DType::bf16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return (h & 0x7F80) == 0x7F80 && (h & 0x7F);
    }
    default: return false;
  }
}

std::string hex(const uint8_t* p, size_t es) {
  std::string s = "0x";
  char b[3];
  for (size_t i = es; i-- > 0;) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

// ---- argument checks (no device needed: refused before any CUDA call) ---------------------

void argument_checks() {
  float fake_f[4];
  const void* two[2] = {fake_f, fake_f + 1};
  const void* one_null[2] = {fake_f, nullptr};
  auto same_as_cpu = [&](const char* what, RedOp op, DType dt, const void* const* in, int k, size_t n, double scale,
                         int divisor, Code want) {
    void* out = fake_f;
    Status g = gpu::reduce(op, dt, out, in, k, n, scale, divisor, nullptr);
    Status c = reduce::reduce(op, dt, out, in, k, n, scale, divisor);
    expect(g.code == want,
           std::string(what) + ": CUDA code " + code_name(g.code) + ", want " + code_name(want) + " (" + g.msg + ")");
    expect(g.code == c.code && g.msg == c.msg,
           std::string(what) + ": CUDA says \"" + g.msg + "\", CPU says \"" + c.msg + "\"");
  };
  same_as_cpu("k=0", RedOp::sum, DType::f32, two, 0, 4, 1, 1, Code::kInvalid);
  same_as_cpu("band on f32", RedOp::band, DType::f32, two, 2, 4, 1, 2, Code::kUnsupported);
  same_as_cpu("premul_sum i32 by 0.5", RedOp::premul_sum, DType::i32, two, 2, 4, 0.5, 2, Code::kUnsupported);
  same_as_cpu("premul_sum u8 by 256", RedOp::premul_sum, DType::u8, two, 2, 4, 256, 2, Code::kUnsupported);
  same_as_cpu("avg divisor 0", RedOp::avg, DType::f32, two, 2, 4, 1, 0, Code::kInvalid);
  same_as_cpu("null input", RedOp::sum, DType::f32, one_null, 2, 4, 1, 2, Code::kInvalid);
  same_as_cpu("unknown op", RedOp(99), DType::f32, two, 2, 4, 1, 2, Code::kInvalid);
  same_as_cpu("unknown dtype", RedOp::sum, DType(42), two, 2, 4, 1, 2, Code::kInvalid);

  std::vector<const void*> many(gpu::kMaxInputs + 1, fake_f);
  Status st = gpu::reduce(RedOp::sum, DType::f32, fake_f, many.data(), gpu::kMaxInputs + 1, 4, 1, 1, nullptr);
  expect(st.code == Code::kInvalid && st.msg.find("at most 16") != std::string::npos,
         "k=17 refused with 'at most 16': got " + st.msg);
  const void* odd[2] = {fake_f, reinterpret_cast<const uint8_t*>(fake_f) + 1};
  st = gpu::reduce(RedOp::sum, DType::f32, fake_f, odd, 2, 4, 1, 2, nullptr);
  expect(st.code == Code::kInvalid && st.msg.find("input 1") != std::string::npos &&
             st.msg.find("not aligned") != std::string::npos,
         "misaligned f32 input refused naming input 1: got " + st.msg);
  st = gpu::reduce(RedOp::sum, DType::f32, fake_f, two, 2, 0, 1, 2, nullptr);
  expect(st.ok(), "n=0 is a no-op that touches nothing: got " + st.msg);

  expect(gpu::available() == (gpu::device_count() > 0), "available() agrees with device_count()");
  if (!gpu::available()) {
    st = gpu::reduce(RedOp::sum, DType::f32, fake_f, two, 2, 4, 1, 2, nullptr);
    expect(st.code == Code::kUnsupported && st.msg.find("no CUDA device") != std::string::npos,
           "without a device, a valid request answers ENOTSUP 'no CUDA device': got " +
               std::string(code_name(st.code)) + " " + st.msg);
  }
}

// ---- GPU against CPU ------------------------------------------------------------------------

constexpr size_t kMaxN = 1 << 20;
constexpr size_t kGuard = 64;
constexpr int kMaxK = gpu::kMaxInputs;

struct Device {
  std::vector<std::vector<uint8_t>> host;  // kMaxK inputs of kMaxN + 2 elements
  void* in[kMaxK] = {};
  uint8_t* out = nullptr;  // kMaxN + 2 elements + kGuard
  std::vector<uint8_t> got, ref;
};

enum class Variant { plain, inplace, offset, mixed, stream };
const char* variant_name(Variant v) {
  switch (v) {
    case Variant::plain: return "plain";
    case Variant::inplace: return "in-place";
    case Variant::offset: return "offset+1";
    case Variant::mixed: return "mixed-alignment";
    case Variant::stream: return "stream";
  }
  return "?";
}

void run_case(Device& d, RedOp op, DType dt, int k, size_t n, Variant var, cudaStream_t stream) {
  const size_t es = dtype_size(dt);
  const double scale = scale_for(dt);
  const int divisor = divisor_for(k);
  // Element offsets: of each input and of out, into their buffers.
  size_t in_off[kMaxK] = {}, out_off = 0;
  for (int j = 0; j < k; ++j) {
    if (var == Variant::offset) in_off[j] = 1;
    if (var == Variant::mixed) in_off[j] = j % 2;
  }
  if (var == Variant::offset) out_off = 1;

  const void* hin[kMaxK];
  const void* din[kMaxK];
  for (int j = 0; j < k; ++j) {
    hin[j] = d.host[j].data() + in_off[j] * es;
    din[j] = static_cast<const uint8_t*>(d.in[j]) + in_off[j] * es;
  }
  uint8_t* dout = d.out + out_off * es;
  const size_t span = (n + 2) * es + kGuard;
  CK(cudaMemsetAsync(d.out, 0xA5, span, stream));
  if (var == Variant::inplace) {  // out starts as a copy of input 0 and is input 0
    CK(cudaMemcpyAsync(dout, din[0], n * es, cudaMemcpyDeviceToDevice, stream));
    din[0] = dout;
  }
  const std::string what =
      name(op, dt) + " k=" + std::to_string(k) + " n=" + std::to_string(n) + " " + variant_name(var);
  Status st = gpu::reduce(op, dt, dout, din, k, n, scale, divisor, stream);
  expect(st.ok(), what + ": " + st.msg);
  if (!st.ok()) return;
  d.got.resize(span);
  CK(cudaMemcpyAsync(d.got.data(), d.out, span, cudaMemcpyDeviceToHost, stream));
  CK(cudaStreamSynchronize(stream));

  d.ref.assign(n * es, 0);
  st = reduce::reduce(op, dt, d.ref.data(), hin, k, n, scale, divisor);
  expect(st.ok(), what + ": CPU reference: " + st.msg);

  size_t bad = 0, first = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* g = d.got.data() + (out_off + i) * es;
    const uint8_t* c = d.ref.data() + i * es;
    if (std::memcmp(g, c, es) == 0 || (is_nan(dt, g) && is_nan(dt, c))) continue;
    if (bad++ == 0) first = i;
  }
  ++g_checks;
  if (bad) {
    std::string msg = what + ": " + std::to_string(bad) + " of " + std::to_string(n) + " elements differ; first [" +
                      std::to_string(first) + "] gpu " + hex(d.got.data() + (out_off + first) * es, es) + " cpu " +
                      hex(d.ref.data() + first * es, es) + " inputs";
    for (int j = 0; j < k; ++j) msg += " " + hex(static_cast<const uint8_t*>(hin[j]) + first * es, es);
    fail(msg);
  }
  for (size_t b = (out_off + n) * es; b < span; ++b)
    if (d.got[b] != 0xA5) {
      fail(what + ": wrote past out (byte " + std::to_string(b - (out_off + n) * es) + " after the end)");
      break;
    }
  for (size_t b = 0; b < out_off * es; ++b)
    if (d.got[b] != 0xA5) {
      fail(what + ": wrote before out");
      break;
    }
}

void sweep() {
  const int ks[] = {1, 2, 3, 5, 8};
  const size_t ns[] = {0, 1, 4097, kMaxN};
  cudaStream_t side;
  CK(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking));
  Device d;
  CK(cudaMalloc(&d.out, (kMaxN + 2) * 8 + kGuard));
  for (int j = 0; j < kMaxK; ++j) CK(cudaMalloc(&d.in[j], (kMaxN + 2) * 8));
  for (DType dt : kDTypes) {
    const size_t es = dtype_size(dt);
    const int before = g_failures;
    d.host.clear();
    for (int j = 0; j < kMaxK; ++j) {
      d.host.push_back(make_input(dt, j, kMaxN + 2));
      CK(cudaMemcpy(d.in[j], d.host[j].data(), (kMaxN + 2) * es, cudaMemcpyHostToDevice));
    }
    int cases = 0;
    for (RedOp op : kOps) {
      if (!defined(op, dt)) continue;
      for (int k : ks)
        for (size_t n : ns) run_case(d, op, dt, k, n, Variant::plain, nullptr), ++cases;
      for (int k : {3, 16})
        for (Variant v : {Variant::inplace, Variant::offset, Variant::mixed, Variant::stream})
          run_case(d, op, dt, k, 4097, v, v == Variant::stream ? side : nullptr), ++cases;
    }
    std::printf("  %-5s %4d cases %s\n", dtype_name(dt), cases, g_failures == before ? "ok" : "FAILED");
  }
  for (int j = 0; j < kMaxK; ++j) CK(cudaFree(d.in[j]));
  CK(cudaFree(d.out));
  CK(cudaStreamDestroy(side));
}

// ---- bandwidth ------------------------------------------------------------------------------

template <class F>
double seconds_per_call(F&& call, int iters) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) call();
  CK(cudaEventRecord(a));
  for (int i = 0; i < iters; ++i) call();
  CK(cudaEventRecord(b));
  CK(cudaEventSynchronize(b));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, a, b));
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return ms / 1e3 / iters;
}

void bandwidth() {
  constexpr size_t kBytes = size_t(128) << 20;
  constexpr int kIters = 20;
  void* buf[kMaxK + 1];
  for (auto& p : buf) {
    CK(cudaMalloc(&p, kBytes));
    CK(cudaMemset(p, 0, kBytes));  // zeros: every dtype and op stays finite
  }
  const double t_copy =
      seconds_per_call([&] { CK(cudaMemcpyAsync(buf[1], buf[0], kBytes, cudaMemcpyDeviceToDevice)); }, kIters);
  const double copy_bw = 2.0 * kBytes / t_copy;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("bandwidth on %s, %zu MiB per buffer: cudaMemcpy D2D %.1f GB/s (read + write)\n", prop.name, kBytes >> 20,
              copy_bw / 1e9);
  std::printf("  %-6s %-10s", "dtype", "op");
  const int ks[] = {1, 2, 4, 8, 16};
  for (int k : ks) std::printf("   k=%-2d GB/s  %%cpy", k);
  std::printf("\n");
  int below = 0, total = 0;
  auto row = [&](RedOp op, DType dt, bool inplace) {
    std::printf("  %-6s %-10s", dtype_name(dt), (std::string(redop_name(op)) + (inplace ? "/ip" : "")).c_str());
    for (int k : ks) {
      const size_t n = kBytes / dtype_size(dt);
      const void* in[kMaxK];
      for (int j = 0; j < k; ++j) in[j] = buf[j];
      void* out = inplace ? buf[0] : buf[kMaxK];
      const double t = seconds_per_call(
          [&] {
            Status st = gpu::reduce(op, dt, out, in, k, n, scale_for(dt), k, nullptr);
            if (!st.ok()) std::fprintf(stderr, "FAIL: bandwidth run: %s\n", st.msg.c_str()), std::exit(1);
          },
          kIters);
      const double bw = double(k + 1) * kBytes / t;
      const double frac = bw / copy_bw;
      ++total;
      below += frac < 0.85;
      std::printf("   %8.1f  %3.0f%%%s", bw / 1e9, 100 * frac, frac < 0.85 ? "*" : " ");
    }
    std::printf("\n");
  };
  for (DType dt : kDTypes) row(RedOp::sum, dt, false);
  row(RedOp::sum, DType::f32, true);
  row(RedOp::sum, DType::bf16, true);
  row(RedOp::premul_sum, DType::bf16, false);
  row(RedOp::max, DType::f32, false);
  row(RedOp::avg, DType::f16, false);
  std::printf("  goal: >= 85%% of cudaMemcpy; %d of %d below (marked *)\n", below, total);
  for (auto& p : buf) CK(cudaFree(p));
}

}  // namespace

int main() {
  argument_checks();
  if (!gpu::available()) {
    std::printf("argument checks: %d, %d failed\n", g_checks, g_failures);
    std::printf("skipped: no CUDA device (%s)\n", gpu::unavailable_reason());
    return g_failures ? 1 : 0;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device 0: %s (sm_%d%d, %d SMs), %d device(s)\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount, gpu::device_count());
  std::printf("sweep: GPU vs CPU kernels (CPU ISA %s), bit-exact except NaN payloads\n", reduce::isa());
  sweep();
  const char* bench = std::getenv("ONET_CUDA_BENCH");
  if (g_failures == 0 && !(bench && std::strcmp(bench, "0") == 0)) bandwidth();
  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  if (g_failures == 0) std::printf("all ok\n");
  return g_failures ? 1 : 0;
}
