#include "common/status.h"
#include "common/types.h"

namespace onet {

const char* dtype_name(DType d) {
  static const char* n[] = {"f32", "f64", "f16", "bf16", "i8", "u8", "i32", "i64"};
  return static_cast<uint32_t>(d) < kNumDTypes ? n[static_cast<uint32_t>(d)] : "?";
}
const char* redop_name(RedOp op) {
  static const char* n[] = {"sum", "prod", "min", "max", "avg", "band", "bor", "bxor", "premul_sum"};
  return static_cast<uint32_t>(op) < kNumRedOps ? n[static_cast<uint32_t>(op)] : "?";
}
const char* coll_name(Coll c) {
  static const char* n[] = {"?", "allreduce", "reduce", "broadcast", "allgather", "allgatherv",
                            "reduce_scatter", "reduce_scatterv", "alltoall", "alltoallv",
                            "gather", "scatter", "barrier", "send", "recv"};
  uint32_t i = static_cast<uint32_t>(c);
  return i < sizeof(n) / sizeof(n[0]) ? n[i] : "?";
}
const char* code_name(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kMismatch: return "EMISMATCH";
    case Code::kInvalid: return "EINVAL";
    case Code::kTimeout: return "ETIMEDOUT";
    case Code::kAborted: return "EABORTED";
    case Code::kClosed: return "ECLOSED";
    case Code::kUnsupported: return "ENOTSUP";
    case Code::kInternal: return "EINTERNAL";
  }
  return "EUNKNOWN";
}

}  // namespace onet
