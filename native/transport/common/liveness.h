// Heartbeat liveness of one peer host, shared by the tcp and ucx pairs (ONET_HEARTBEAT_MS = hb).
// The pair's progress thread calls heard() on every sign of life from the peer, sends a heartbeat
// whenever due() says so, and fails the pair with silence()'s message once it is non-empty.
//
// A peer silent for kMissed·hb (a vanished host, a pulled cable, a frozen coordinator) is gone:
// with HeartbeatClock looking every hb/2, requests on it end within about (kMissed + 0.5)·hb
// instead of at the collective's deadline. Before its first sign of life a peer gets at least
// kFirstGraceMs: its progress thread starts only once its own mesh is up.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "transport/transport.h"

namespace onet::net {

class Liveness {
 public:
  static constexpr int kMissed = 3;
  static constexpr int64_t kFirstGraceMs = 10'000;

  Liveness(int hb_ms, int64_t now) : hb_(hb_ms), last_rx_(now), last_tx_(now) {}
  void heard(int64_t now) {
    last_rx_ = now;
    heard_ = true;
  }
  // True when no heartbeat went out for hb; counts one as sent.
  bool due(int64_t now) {
    if (hb_ <= 0 || now - last_tx_ < hb_) return false;
    last_tx_ = now;
    return true;
  }
  // "" while the peer is alive, else why the pair named `peer` ("host 1 (10.0.0.2:4000)") fails.
  std::string silence(const std::string& peer, int64_t now) const {
    const int64_t allowed = heard_ ? kMissed * int64_t(hb_) : std::max<int64_t>(kMissed * int64_t(hb_), kFirstGraceMs);
    if (hb_ <= 0 || now - last_rx_ <= allowed) return "";
    return peer + " is unreachable: nothing received for " + std::to_string(now - last_rx_) + " ms (heartbeat every " +
           std::to_string(hb_) + " ms, ONET_HEARTBEAT_MS); the host, its link or its coordinator is gone";
  }

 private:
  int hb_;
  int64_t last_rx_, last_tx_;
  bool heard_ = false;
};

// A progress thread's schedule for its pairs' Liveness: look every hb/2 (off when hb <= 0).
class HeartbeatClock {
 public:
  explicit HeartbeatClock(int hb_ms) : hb_(hb_ms), next_(now_ms() + hb_ms / 2) {}
  // How long an idle wait may sleep: idle_ms (-1: forever), cut short by the next look.
  int wait_ms(int idle_ms) const {
    if (hb_ <= 0) return idle_ms;
    int until = int(std::max<int64_t>(1, next_ - now_ms()));
    return idle_ms < 0 ? until : std::min(idle_ms, until);
  }
  // True when it is time to look at the pairs (at most once per hb/2).
  bool tick(int64_t now) {
    if (hb_ <= 0 || now < next_) return false;
    next_ = now + hb_ / 2;
    return true;
  }

 private:
  int hb_;
  int64_t next_;
};

}  // namespace onet::net
