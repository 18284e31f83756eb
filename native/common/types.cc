#include "common/status.h"
#include "common/types.h"

namespace onet {

const char* dtype_name(DType d) {
  return static_cast<uint32_t>(d) < kNumDTypes ? gen::kDTypeNames[static_cast<uint32_t>(d)] : "?";
}
const char* redop_name(RedOp op) {
  return static_cast<uint32_t>(op) < kNumRedOps ? gen::kRedOpNames[static_cast<uint32_t>(op)] : "?";
}
const char* coll_name(Coll c) {
  return static_cast<uint32_t>(c) <= kMaxColl ? gen::kCollNames[static_cast<uint32_t>(c)] : "?";
}
const char* code_name(Code c) {
  int32_t n = static_cast<int32_t>(c);
  return code_known(n) ? kCodeNames[n] : "EUNKNOWN";
}
const char* code_hint(Code c) {
  int32_t n = static_cast<int32_t>(c);
  return code_known(n) ? kCodeHints[n] : "";
}

}  // namespace onet
