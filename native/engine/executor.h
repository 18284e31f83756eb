// Runs plans on a fixed pool of engine threads (created once; no per-op thread creation).
// Small plans run on the calling (progress) thread alone: waking a sleeping worker costs
// tens of microseconds on an idle VM, more than an 8-byte allreduce should take.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstddef>
#include <thread>
#include <vector>

#include "common/status.h"
#include "algo/plan.h"

namespace onet {

class Executor {
 public:
  Executor(int threads, size_t chunk_bytes, size_t parallel_bytes);
  ~Executor();
  Status run(const Plan& plan);  // blocks until every chunk is done
  int threads() const { return int(workers_.size()) + 1; }

 private:
  struct Chunk {
    uint32_t step;
    size_t begin, end;
  };
  void worker_loop();
  void drain();  // take chunks until none left
  Status run_chunk(const Chunk& c);

  size_t chunk_bytes_, parallel_bytes_;
  std::vector<std::thread> workers_;
  const Plan* plan_ = nullptr;
  std::vector<Chunk> chunks_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> done_{0};
  // Hand-off under mu_: a worker joins a generation only while its chunks are set up, and
  // run() neither returns nor rebuilds chunks_ while any worker is inside drain().
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t gen_ = 0;
  int inside_ = 0;
  bool open_ = false;  // a parallel run is taking chunks; late workers stay out otherwise
  bool stop_ = false;
  std::atomic<int> failed_{0};
  Status first_error_;
};

}  // namespace onet
