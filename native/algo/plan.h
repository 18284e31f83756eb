// A plan is what the engine executes for one matched collective: a list of steps in a
// two-word vocabulary (NCCL style). A reduce step folds k sources into dsts[0] and copies
// the result to dsts[1..]; a copy step copies srcs[0] into every dst. Steps are split into
// chunks that engine threads take in any order, so steps of one plan must not depend on
// each other (every plan below writes each output byte exactly once).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "algo/local/remote.h"
#include "common/types.h"

namespace onet {

struct Step {
  enum Kind : uint8_t { kCopy, kReduce } kind;
  std::vector<const char*> srcs;
  std::vector<char*> dsts;
  size_t n;  // elements
};

struct Plan {
  DType dt = DType::u8;
  RedOp op = RedOp::sum;
  double scale = 1.0;
  int divisor = 1;
  std::vector<Step> steps;
  // Engine-owned staging for the rare case where a reduce's first output would alias a
  // later input (the kernels allow out to alias inputs[0] only).
  std::vector<std::vector<char>> scratch;
  RemoteMap remote;  // other processes' buffers named by stand-in pointers (single copy, engine/cma.h)
  size_t bytes() const {
    size_t b = 0;
    for (auto& s : steps) b += s.n * dtype_size(dt) * (s.srcs.size() + s.dsts.size());
    return b;
  }
  char* stage(size_t bytes) {
    scratch.emplace_back(bytes);
    return scratch.back().data();
  }
  void copy(const char* src, char* dst, size_t n) {
    if (n && src != dst) steps.push_back({Step::kCopy, {src}, {dst}, n});
  }
};

}  // namespace onet
