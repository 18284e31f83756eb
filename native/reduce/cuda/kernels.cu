// CUDA reduce kernels, one per (op, dtype) cell of the ONET_REDUCE_OPS × ONET_REDUCE_DTYPES
// lists in reduce/kernels.h — the lists the CPU tables are generated from.
//
// Shape of every kernel: a grid-stride loop over 16-byte vectors. Each thread reads its
// vector from all k inputs (k ≤ 16 local ranks; every input byte is read exactly once, out
// written once), kGroup inputs' loads in flight before it folds them, kUnroll vectors per
// iteration, and folds left to right in[0] ∘ in[1] ∘ … in registers — the CPU kernels' order
// — so results are bit-identical to them. f16/bf16 widen to f32 as they load and round once
// when stored. Inputs are loaded with the streaming hint (read once: evict first); out is
// stored normally, since the next step of a collective usually reads it back.
// Elements before out's first 16-byte boundary and after the last whole vector go through
// the same fold one element at a time; so does everything when the inputs do not share
// out's alignment (then 16-byte loads are impossible).
#include <algorithm>
#include <cstdint>

#include <cuda_runtime.h>

#include "reduce/cuda/device_ops.cuh"
#include "reduce/cuda/launch.h"
#include "reduce/kernels.h"

namespace onet::reduce::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kGroup = 4;   // inputs whose loads are issued together before folding
constexpr int kUnroll = 2;  // vectors per thread per iteration: more bytes in flight

template <class S>
union Pack {
  static constexpr int V = 16 / sizeof(S);
  uint4 u;
  S s[V];
};

template <DType D, template <class> class OpT>
__global__ void __launch_bounds__(kThreads) reduce_kernel(const Params p) {
  using T = Traits<D>;
  using S = typename T::S;
  using A = typename T::A;
  using Op = OpT<A>;
  constexpr int V = Pack<S>::V;
  const A scale = Op::kPremul ? convert_scale<A>(p.scale) : A(0);
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  const size_t tid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  S* const out = static_cast<S*>(p.out);

  // Vector body: vectors v, v + stride, … (kUnroll of them) per iteration.
  for (size_t v0 = tid; v0 < p.nvec; v0 += stride * kUnroll) {
    A r[kUnroll][V] = {};
    for (int j0 = 0; j0 < p.k; j0 += kGroup) {
      // Zeroed, so that folding a vector past nvec reads defined values: cheaper in
      // registers (58-64 for most cells on sm_90) than predicating the folds as well.
      Pack<S> raw[kUnroll][kGroup];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int g = 0; g < kGroup; ++g) raw[u][g].u = make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int g = 0; g < kGroup; ++g)
          if (j0 + g < p.k && v0 + u * stride < p.nvec)
            raw[u][g].u =
                __ldcs(reinterpret_cast<const uint4*>(static_cast<const S*>(p.in[j0 + g]) + p.head) + v0 + u * stride);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int g = 0; g < kGroup; ++g)
          if (j0 + g < p.k)  // a missing vector u folds zeros; never stored
#pragma unroll
            for (int i = 0; i < V; ++i) {
              const A x = pre<Op>(A(T::load(raw[u][g].s[i])), scale);
              r[u][i] = j0 + g == 0 ? x : Op::fold(r[u][i], x);
            }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (v0 + u * stride >= p.nvec) break;
      Pack<S> o;
#pragma unroll
      for (int i = 0; i < V; ++i) o.s[i] = T::store(finish<Op>(r[u][i], p.divisor));
      reinterpret_cast<uint4*>(out + p.head)[v0 + u * stride] = o.u;
    }
  }

  // Scalar head [0, head) and tail [head + nvec·V, n), same fold.
  const size_t tail = p.head + p.nvec * V;
  const size_t scalars = p.head + (p.n - tail);
  for (size_t s = tid; s < scalars; s += stride) {
    const size_t e = s < p.head ? s : tail + (s - p.head);
    A r = A(0);
    for (int j0 = 0; j0 < p.k; j0 += kGroup) {
      S raw[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g)
        if (j0 + g < p.k) raw[g] = static_cast<const S*>(p.in[j0 + g])[e];
#pragma unroll
      for (int g = 0; g < kGroup; ++g)
        if (j0 + g < p.k) {
          const A x = pre<Op>(A(T::load(raw[g])), scale);
          r = j0 + g == 0 ? x : Op::fold(r, x);
        }
    }
    out[e] = T::store(finish<Op>(r, p.divisor));
  }
}

// Grid: enough blocks for the work, at most one full wave of resident blocks (the loops
// stride over the rest). Occupancy is measured once per kernel.
template <DType D, template <class> class OpT>
cudaError_t launch(const Params& p, cudaStream_t stream) {
  static const int per_sm = [] {
    int b = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, reduce_kernel<D, OpT>, kThreads, 0) != cudaSuccess)
      (void)cudaGetLastError();
    return b > 0 ? b : 1;
  }();
  constexpr size_t V = Pack<typename Traits<D>::S>::V;
  const size_t items = std::max((p.nvec + kUnroll - 1) / kUnroll, p.head + (p.n - p.head - p.nvec * V));
  const size_t want = (items + kThreads - 1) / kThreads;
  const size_t cap = size_t(sm_count()) * size_t(per_sm);
  const unsigned grid = unsigned(std::max<size_t>(1, std::min(want, cap)));
  reduce_kernel<D, OpT><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <DType D, template <class> class OpT>
constexpr Launcher entry() {
  if constexpr (OpT<int>::kBitwise && !std::is_integral_v<typename Traits<D>::A>) return nullptr;
  else return &launch<D, OpT>;
}

template <template <class> class OpT>
constexpr void fill_row(Table& t, RedOp op) {
#define ONET_CELL(DT) t.fn[uint32_t(op)][uint32_t(DType::DT)] = entry<DType::DT, OpT>();
  ONET_REDUCE_DTYPES(ONET_CELL)
#undef ONET_CELL
}

constexpr Table make_table() {
  Table t{};
#define ONET_ROW(OP) fill_row<Op_##OP>(t, RedOp::OP);
  ONET_REDUCE_OPS(ONET_ROW)
#undef ONET_ROW
  return t;
}

}  // namespace

const Table kTable = make_table();

}  // namespace onet::reduce::cuda
