// Errors are data (STYLE rule 7): a Status carries the code, a message that says what happened,
// to whom and what to do, and the ranks concerned. It crosses every boundary as those three
// fields — the slot's status word and rank list, the coordinator's done/error messages, Node's
// OnetError, Python's exceptions — and nothing downstream parses the message.
// Codes and their numbers come from spec/errors.json (common/gen/errors.h).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "common/gen/errors.h"

namespace onet {

struct Status {
  Code code = Code::kOk;
  std::string msg;
  std::vector<int> ranks;  // global ranks concerned (mismatching, silent, dead), ascending; may be empty
  Status() = default;
  Status(Code c, std::string m) : code(c), msg(std::move(m)) {}
  Status(Code c, std::string m, std::vector<int> r) : code(c), msg(std::move(m)), ranks(std::move(r)) {}
  bool ok() const { return code == Code::kOk; }
  static Status Ok() { return {}; }
};

const char* code_name(Code c);  // "EMISMATCH", ...; "EUNKNOWN" for a number outside spec/errors.json
const char* code_hint(Code c);  // what to do about it, from spec/errors.json

}  // namespace onet
