#include "engine/executor.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "engine/cma.h"
#include "reduce/reduce.h"

namespace onet {

Executor::Executor(int threads, size_t chunk_bytes, size_t parallel_bytes)
    : chunk_bytes_(std::max<size_t>(chunk_bytes, 4096)), parallel_bytes_(parallel_bytes) {
  for (int i = 1; i < threads; i++) workers_.emplace_back([this] { worker_loop(); });
}

Executor::~Executor() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

Status Executor::run_chunk(const Chunk& c) {
  const Step& s = plan_->steps[c.step];
  if (!plan_->remote.empty()) return cma::run_chunk(*plan_, s, c.begin, c.end);  // single copy (engine/cma.h)
  size_t es = dtype_size(plan_->dt), n = c.end - c.begin, off = c.begin * es;
  if (s.kind == Step::kCopy) {
    const char* src = s.srcs[0] + off;
    for (char* d : s.dsts)
      if (d + off != src) memcpy(d + off, src, n * es);
    return Status::Ok();
  }
  const void* in[64];
  std::vector<const void*> big;
  const void** inputs = in;
  if (s.srcs.size() > 64) {
    big.resize(s.srcs.size());
    inputs = big.data();
  }
  for (size_t j = 0; j < s.srcs.size(); j++) inputs[j] = s.srcs[j] + off;
  char* out = s.dsts[0] + off;
  Status st = reduce::reduce(plan_->op, plan_->dt, out, inputs, int(s.srcs.size()), n, plan_->scale, plan_->divisor);
  if (!st.ok()) return st;
  for (size_t j = 1; j < s.dsts.size(); j++)
    if (s.dsts[j] + off != out) memcpy(s.dsts[j] + off, out, n * es);
  return Status::Ok();
}

void Executor::drain() {
  for (;;) {
    size_t i = next_.fetch_add(1);
    if (i >= chunks_.size()) return;
    Status st = run_chunk(chunks_[i]);
    if (!st.ok() && failed_.exchange(1) == 0) first_error_ = st;
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void Executor::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || (open_ && gen_ != seen); });
      if (stop_) return;
      seen = gen_;
      inside_++;
    }
    drain();
    {
      std::lock_guard<std::mutex> g(mu_);
      inside_--;
    }
    cv_.notify_all();
  }
}

Status Executor::run(const Plan& plan) {
  size_t es = dtype_size(plan.dt);
  // Chunk by elements so that one chunk touches about chunk_bytes_ per buffer it reads.
  size_t per = std::max<size_t>(chunk_bytes_ / es, 64);
  size_t nchunks = 0;
  for (auto& s : plan.steps) nchunks += (s.n + per - 1) / per;
  bool parallel = !workers_.empty() && nchunks > 1 && plan.bytes() >= parallel_bytes_;
  {
    std::unique_lock<std::mutex> l(mu_, std::defer_lock);
    if (parallel) {
      l.lock();
      cv_.wait(l, [&] { return inside_ == 0; });
    }
    plan_ = &plan;
    chunks_.clear();
    for (uint32_t i = 0; i < plan.steps.size(); i++)
      for (size_t b = 0; b < plan.steps[i].n; b += per) chunks_.push_back({i, b, std::min(plan.steps[i].n, b + per)});
    failed_.store(0);
    next_.store(0);
    done_.store(0);
    if (parallel) {
      gen_++;
      open_ = true;
    }
  }
  if (parallel) cv_.notify_all();
  drain();
  while (done_.load(std::memory_order_acquire) < chunks_.size()) std::this_thread::yield();
  if (parallel) {
    std::unique_lock<std::mutex> l(mu_);
    open_ = false;
    cv_.wait(l, [&] { return inside_ == 0; });
  }
  plan_ = nullptr;
  return failed_.load() ? first_error_ : Status::Ok();
}

}  // namespace onet
