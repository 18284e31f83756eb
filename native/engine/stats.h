// Telemetry kept by the engine itself, so that no event crosses to JS per collective: counters
// per collective × dtype × size bucket, a latency histogram, per-rank "arrived last" counts over
// a sliding window, queue depth, each rank's last completed op, and (only when tracing) a
// bounded ring of per-collective timestamps. JS reads it about once a second (json()).
//
// Invariant: one writer, the engine's progress thread. Counters are relaxed atomics updated by
// load + store (no locked read-modify-write on the hot path); a reader may see one collective
// half counted, never a torn value. Trace records are the only thing behind a mutex.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace onet {

struct StatsConfig {
  bool enabled = false;                  // counters, histograms, straggler window
  bool trace = false;                    // keep trace records for drain_trace()
  int straggler_window = 100;            // collectives in the "who arrived last" window
  int64_t straggler_gap_ns = 1'000'000;  // last arrival counts only this far behind the next-to-last
  size_t trace_capacity = 8192;          // collectives kept between drains (~1 s); older ones are dropped
};

// Trace records since the last drain, rendered as Chrome-trace events (comma-separated JSON
// objects, no brackets): rendering here costs a tenth of building JS objects for them.
struct TraceBatch {
  std::string events;
  uint64_t count = 0, dropped = 0;
  std::vector<int> ranks;  // ranks that appear in this batch
};

class Stats {
 public:
  // Latency histogram: quarter-octave buckets of v = ns·1.024 ("1/1024 µs"), so every 4th
  // bucket boundary is an exact power of two of microseconds (log2-µs with 2 sub-bucket bits).
  static constexpr int kHistBuckets = 168;
  static constexpr int kSizeBuckets = 49;  // 0 B, then ≤ 1 B, 2 B, 4 B, … ≤ 2^47 B
  static constexpr int kColls = 15;        // Coll values 1..14
  static int hist_bucket(int64_t ns);
  static int size_bucket(uint64_t bytes);

  struct Arrival {
    int rank;
    int64_t posted_ns;
    uint64_t in_off, out_off;
  };

  Stats(int world, const StatsConfig& cfg);
  ~Stats();
  bool enabled() const { return cfg_.enabled; }

  // ---- progress thread only ----
  std::vector<Arrival> arrivals;  // filled by execute() for on_collective(); reused, never shrinks
  void on_post() {
    if (cfg_.enabled) bump(posts_, 1);
  }
  void on_complete(Code code) {
    if (code != Code::kOk) bump(errors_[int(code) & 7], 1);
    if (cfg_.enabled) bump(completions_, 1);
  }
  void on_dropped(int n) {
    if (cfg_.enabled) bump(completions_, uint64_t(n));
  }  // a dead rank's requests
  // A fused cross-host exchange (engine/fusion.cc) ran `members` collectives; counted even with
  // telemetry off, like errors, so tests and `onet status` can tell whether fusion happened.
  void on_fused(uint64_t members) {
    bump(fused_, members);
    bump(fused_exchanges_, 1);
  }
  // A collective finished: `arrivals` holds every group rank's post; exec0..exec1 is the plan run.
  void on_collective(Coll c, uint32_t dtype, uint32_t group, uint64_t seq, uint64_t count, int64_t exec0,
                     int64_t exec1);

  // ---- any thread ----
  std::string json() const;
  TraceBatch drain_trace();

 private:
  struct Cell {
    std::atomic<uint64_t> calls{0}, bytes{0}, dur_ns{0}, wait_ns{0};
    std::atomic<uint64_t> hist[kHistBuckets] = {};
  };
  struct RankStat {
    std::atomic<uint32_t> last_coll{0};
    std::atomic<uint32_t> last_group{0};
    std::atomic<uint64_t> last_seq{0};
    std::atomic<int64_t> last_done_ns{0};
    std::atomic<uint64_t> late_window{0}, late_total{0}, late_ns{0}, arena_hw{0};
  };
  struct TraceRec {
    uint32_t coll, dtype, group;
    uint64_t seq, bytes;
    int64_t matched, exec0, exec1, done;
    std::vector<std::pair<int, int64_t>> posts;  // global rank, posted time
  };
  static void bump(std::atomic<uint64_t>& a, uint64_t d) {
    a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  Cell* cell(uint32_t coll, uint32_t dtype, int sb);

  StatsConfig cfg_;
  int world_;
  std::unique_ptr<std::atomic<Cell*>[]> cells_;  // [kColls][kNumDTypes][kSizeBuckets], made on first use
  std::unique_ptr<RankStat[]> ranks_;
  std::atomic<uint64_t> posts_{0}, completions_{0}, collectives_{0}, window_filled_{0};
  std::atomic<uint64_t> errors_[8] = {};
  std::atomic<uint64_t> fused_{0}, fused_exchanges_{0};
  std::vector<int> window_;  // last-arrival rank per collective (-1: nobody clearly last)
  size_t window_pos_ = 0;
  mutable std::mutex trace_mu_;
  std::deque<TraceRec> trace_;
  uint64_t trace_dropped_ = 0;
};

}  // namespace onet
