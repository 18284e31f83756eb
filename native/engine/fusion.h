// The queue between a group's matcher and its lane (engine/fusion.cc): collectives whose local
// ranks all posted wait here in sequence order, so that the lane, when it starts one, can see
// which ones are already queued behind it and fuse small allreduces into one cross-host
// exchange (algo/hier/fuse.cc, docs/scheduling.md "Fusion in the engine").
//
// Invariant: the progress thread only appends, the lane thread only removes from the front, and
// every append is followed by one lane task that runs the front item (if any is left): items
// never outnumber pending tasks, so none is forgotten, and a fused member is simply gone when
// its own task runs.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "algo/hier/hier.h"
#include "engine/stats.h"

namespace onet {

struct CrossItem {
  std::shared_ptr<CrossJob> job;
  int64_t t0 = 0;                   // when it was handed to the lane
  std::vector<Stats::Arrival> arr;  // its local ranks' posts, for telemetry
};

struct CrossQueue {
  std::mutex mu;
  std::deque<CrossItem> items;  // deque: appending keeps pointers to queued items valid
};

}  // namespace onet
