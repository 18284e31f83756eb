// Status codes cross every boundary with these numbers: C++ Status → completion word in the
// arena → TS OnetError.code → Python exception class (docs/protocol.md, "Error codes").
#pragma once
#include <string>
#include <utility>

namespace onet {

enum class Code : int32_t {
  kOk = 0,
  kMismatch = 1,      // ranks disagree on op/dtype/count/redop/root
  kInvalid = 2,       // a malformed request: bad dtype, count past the arena, rank out of range
  kTimeout = 3,       // a deadline passed
  kAborted = 4,       // a peer or the coordinator died; the collective cannot finish
  kClosed = 5,        // the communicator or engine was closed
  kUnsupported = 6,   // valid request the engine cannot do (e.g. band on floats)
  kInternal = 7,
};

struct Status {
  Code code = Code::kOk;
  std::string msg;
  Status() = default;
  Status(Code c, std::string m) : code(c), msg(std::move(m)) {}
  bool ok() const { return code == Code::kOk; }
  static Status Ok() { return {}; }
};

const char* code_name(Code c);  // "EMISMATCH", ...

}  // namespace onet
