// The tag ranges a pair gave up on (Pair::cancel, transport.h), kept by the tcp and ucx pairs
// alike: a receive posted later for such a tag fails at once with the range's reason, and a
// message with such a tag is dropped unread. Only the newest kMax ranges are kept: aborts are
// rare and an old range sees no more traffic (an aborted collective's tags are never reused).
// Not locked: the pair guards it with its receive mutex.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>

#include "common/status.h"

namespace onet::net {

struct TagRange {
  uint64_t lo, hi;
  Status why;
};

class CancelledTags {
 public:
  static constexpr size_t kMax = 256;
  // The newest range holding `tag`, or nullptr.
  const TagRange* find(uint64_t tag) const {
    for (auto it = r_.rbegin(); it != r_.rend(); ++it)
      if (tag >= it->lo && tag <= it->hi) return &*it;
    return nullptr;
  }
  void add(uint64_t lo, uint64_t hi, const Status& why) {
    if (find(lo)) return;
    r_.push_back({lo, hi, why});
    if (r_.size() > kMax) r_.pop_front();
  }
  std::deque<TagRange>::const_iterator begin() const { return r_.begin(); }  // oldest first
  std::deque<TagRange>::const_iterator end() const { return r_.end(); }

 private:
  std::deque<TagRange> r_;
};

}  // namespace onet::net
