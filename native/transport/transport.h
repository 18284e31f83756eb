// The inter-host transport interface (gloo's Device → Pair shape). Algorithms in native/algo/
// see only this header: a Comm of P peers, each reached through a Pair that moves tagged byte
// messages. Backends live in sibling folders with the same file names (tcp/, ucx/; mem/ is the
// in-process test backend), code they share in common/, and one factory makes any of them
// from DeviceOptions (common/options.h).
//
// Invariants every backend keeps:
//  - Reliable and ordered per (pair, tag): two messages with the same tag from the same peer
//    are received in the order they were sent (MPI's non-overtaking rule). Messages with
//    different tags never block each other.
//  - A receive may be posted before or after the matching send arrives (unexpected messages
//    are buffered by the backend). Sizes must match exactly; a mismatch is kMismatch.
//  - Buffers handed to isend/irecv stay owned by the caller and must stay valid until the
//    request completes (wait() returned or test() returned true).
//  - Every wait has a deadline; a dead peer or broken link completes pending requests with
//    kAborted naming the peer, in the text and as data: Status::ranks holds the peer's rank in
//    this device (its host index), which the engine maps to the host's global ranks; a payload that fails its checksum
//    is kInternal "checksum", never delivered.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace onet::net {

// Milliseconds on CLOCK_MONOTONIC; deadlines are absolute in this clock (now_ms() + timeout).
int64_t now_ms();

class Request {
 public:
  virtual ~Request() = default;
  virtual bool test() = 0;                       // true once finished (ok or not)
  virtual Status wait(int64_t deadline_ms) = 0;  // kTimeout when the deadline passes first
};

class Pair {
 public:
  virtual ~Pair() = default;
  virtual int peer() const = 0;  // index of the remote end in the Device's world
  virtual std::unique_ptr<Request> isend(const void* buf, size_t bytes, uint64_t tag) = 0;
  virtual std::unique_ptr<Request> irecv(void* buf, size_t bytes, uint64_t tag) = 0;
  // Give up on every message whose tag lies in [lo, hi]: receives posted now or later complete
  // with `why`, and messages with such tags (arrived, arriving or still to come) are dropped
  // unread. The engine calls it when a cross-host collective is aborted (its tags carry
  // (group, seq) and are never reused), so nothing of it lingers or waits for its deadline.
  // Sends are left alone: they complete once written. Default: nothing (the waits then end at
  // their deadline, as before).
  virtual void cancel(uint64_t lo, uint64_t hi, const Status& why) { (void)lo, (void)hi, (void)why; }
};

// Counters a backend keeps; the coordinator exposes them as metrics.
struct LinkStats {
  uint64_t bytes_sent = 0, bytes_received = 0, messages_sent = 0, messages_received = 0;
  uint64_t checksum_failures = 0, retransmits = 0;
};

// One per coordinator. `rank`/`size` index the coordinators of the job (hosts), not ranks.
class Device {
 public:
  virtual ~Device() = default;
  virtual const char* name() const = 0;     // "tcp", "ucx", "mem"
  virtual std::string address() const = 0;  // what peers connect to ("10.0.0.1:43121")
  // Connect to every other device (full mesh). addrs[i] is device i's address(); blocks
  // until all links are up or the deadline passes (kTimeout naming the unreachable hosts).
  virtual Status connect(int rank, const std::vector<std::string>& addrs, int64_t deadline_ms) = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual Pair* pair(int peer) = 0;  // nullptr for self
  virtual LinkStats stats(int peer) const = 0;
  virtual void close() = 0;  // fails pending requests with kClosed
};

// Network backends (tcp, ucx) are made from options: transport/common/options.h.

// In-process backend: `size` devices sharing memory, for algorithm unit tests (threads as
// ranks, gloo style). Devices are created together and connect() is a no-op.
std::vector<std::unique_ptr<Device>> create_mem_devices(int size);

// The view an algorithm runs on: this process's index among `size` participants, a pair to
// each other one, a deadline for every wait, and the reduction to apply.
struct Comm {
  int rank = 0;
  int size = 1;
  std::vector<Pair*> pairs;  // pairs[rank] == nullptr
  int64_t deadline_ms = 0;
  uint64_t tag = 0;  // distinct per collective call; algorithms add small step offsets
};

}  // namespace onet::net
