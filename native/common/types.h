// Wire-level enums shared by the engine, the bindings and (by value) the TS and Python
// clients. Values are part of protocol v1 (docs/protocol.md): append, never renumber.
#pragma once
#include <cstddef>
#include <cstdint>

namespace onet {

enum class DType : uint32_t { f32 = 0, f64 = 1, f16 = 2, bf16 = 3, i8 = 4, u8 = 5, i32 = 6, i64 = 7 };
constexpr uint32_t kNumDTypes = 8;

enum class RedOp : uint32_t { sum = 0, prod = 1, min = 2, max = 3, avg = 4, band = 5, bor = 6, bxor = 7, premul_sum = 8 };
constexpr uint32_t kNumRedOps = 9;

enum class Coll : uint32_t {
  allreduce = 1, reduce = 2, broadcast = 3, allgather = 4, allgatherv = 5,
  reduce_scatter = 6, reduce_scatterv = 7, alltoall = 8, alltoallv = 9,
  gather = 10, scatter = 11, barrier = 12, send = 13, recv = 14,
};

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    case DType::i8: case DType::u8: return 1;
  }
  return 0;
}
inline bool dtype_valid(uint32_t d) { return d < kNumDTypes; }
inline bool dtype_is_float(DType d) {
  return d == DType::f32 || d == DType::f64 || d == DType::f16 || d == DType::bf16;
}
const char* dtype_name(DType d);
const char* redop_name(RedOp op);
const char* coll_name(Coll c);

}  // namespace onet
