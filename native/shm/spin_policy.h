// How long to spin before sleeping on a futex, and how: the adaptive waiting of docs/performance.md
// ("Adaptive waiting"), shared by the engine's progress loop (engine/engine.cc) and the native rank
// bindings (bindings/jax, bindings/node); python/opennetworks/_spin_policy.py is the same policy.
//
// Two inputs, both cheap:
//  - the host's load: runnable tasks (/proc/loadavg's 4th field, which counts the spinners
//    themselves) against the cores this process may use, sampled every kLoadSampleNs, not per poll;
//  - recent waits: how long the last waits took and whether spinning caught them.
// Three modes: busy-spin (pause) while runnable ≤ cores, i.e. nobody else wants a core; yield
// between polls while runnable ≤ cores + 1 (one extra thread, e.g. n = 2 ranks plus the
// progress thread on 2 cores); sleep at once when more are runnable (spinning there only
// takes a time slice from the thread we wait for: n = 4 on 2 cores, or other work).
// The budget follows the waits: a wait caught while spinning grows it by 1/4; a wait that
// outlasted the budget but not the cap raises it to 1.5× that wait (spinning that long would
// have caught it); a wait longer than the cap halves it (spinning there is wasted).
// Everything here is a pure function of its arguments; LoadSampler is the only I/O.
#pragma once
#include <cstdint>

namespace onet::shm {

enum class SpinMode { busy = 0, yield = 1, sleep = 2 };

struct SpinLimits {
  int64_t min_us = 2;     // the budget never drops below this (so one short wait can grow it)
  int64_t max_us = 1000;  // ONET_SPIN_MAX_US: the cap; 0 = no adaptation (fixed budget)
};

struct SpinPlan {
  SpinMode mode;
  int64_t spin_us;  // 0 with SpinMode::sleep
};

// The mode for `runnable` tasks on `cores` cores (cores < 1 is taken as 1).
inline SpinMode spin_mode(int runnable, int cores) {
  if (cores < 1) cores = 1;
  if (runnable <= cores) return SpinMode::busy;
  if (runnable <= cores + 1) return SpinMode::yield;
  return SpinMode::sleep;
}

inline SpinPlan spin_plan(int64_t budget_us, int runnable, int cores) {
  SpinMode m = spin_mode(runnable, cores);
  return {m, m == SpinMode::sleep ? 0 : budget_us};
}

// The next budget after a wait of waited_us, given whether it ended while spinning.
inline int64_t spin_update(int64_t budget_us, int64_t waited_us, bool caught_spinning, const SpinLimits& lim) {
  if (lim.max_us <= 0) return budget_us;  // adaptation off: the configured budget stays
  int64_t b = budget_us;
  if (caught_spinning) b = b + b / 4 + 1;
  else if (waited_us <= lim.max_us) b = waited_us + waited_us / 2 > b ? waited_us + waited_us / 2 : b + b / 4 + 1;
  else b = b / 2;
  return b < lim.min_us ? lim.min_us : b > lim.max_us ? lim.max_us : b;
}

// Samples runnable tasks at most every kLoadSampleNs (the caller passes now_ns()); the value is
// the mean of the last two samples, so one odd reading moves the mode less.
struct LoadSampler {
  static constexpr int64_t kLoadSampleNs = 5'000'000;
  int cores = 1;     // sched_getaffinity count at construction
  int runnable = 0;  // smoothed; 0 until the first sample
  int64_t last_ns = INT64_MIN / 2;
  int prev = -1;
  LoadSampler();
  // Refreshes when kLoadSampleNs passed; returns the smoothed runnable count.
  int sample(int64_t now_ns);
};

// SpinLimits with max_us from ONET_SPIN_MAX_US (unset or malformed: the registered default;
// negative: 0, i.e. no adaptation).
SpinLimits spin_limits_from_env();

// /proc/loadavg's runnable field ("0.30 1.07 1.76 3/103 10298" -> 3), or -1 when unreadable.
int read_runnable();
// Parses that field from a loadavg line (pure, for tests); -1 when malformed.
int parse_runnable(const char* loadavg_line);

}  // namespace onet::shm
