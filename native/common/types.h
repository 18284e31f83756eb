// Wire-level enums shared by the engine, the bindings and (by value) the TS and Python
// clients. The enums and their tables are generated from spec/enums.json (`npm run gen`);
// this header adds the helpers the engine uses.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/gen/enums.h"  // enum class DType, RedOp, Coll (spec/enums.json)

namespace onet {

inline size_t dtype_size(DType d) {
  return static_cast<uint32_t>(d) < kNumDTypes ? gen::kDTypeBytes[static_cast<uint32_t>(d)] : 0;
}
inline bool dtype_valid(uint32_t d) { return d < kNumDTypes; }
inline bool dtype_is_float(DType d) {
  return static_cast<uint32_t>(d) < kNumDTypes && gen::kDTypeFloat[static_cast<uint32_t>(d)];
}
const char* dtype_name(DType d);
const char* redop_name(RedOp op);
const char* coll_name(Coll c);

}  // namespace onet
