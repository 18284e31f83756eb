// Engine telemetry: see stats.h for the one-writer invariant.
#include "engine/stats.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "shm/futex.h"

namespace onet {

namespace {

constexpr std::memory_order kRel = std::memory_order_relaxed;

int log2_floor(uint64_t v) { return 63 - __builtin_clzll(v); }

// nccl-tests' "size" of a collective (what algbw divides), and what it reads/writes in a
// rank's arena (for the arena high-water mark).
void sizes(Coll c, uint64_t elems, uint64_t P, uint64_t* msg, uint64_t* in, uint64_t* out) {
  switch (c) {
    case Coll::allgather:
    case Coll::gather:
      *msg = P * elems;
      *in = elems;
      *out = c == Coll::allgather ? P * elems : 0;
      break;
    case Coll::reduce_scatter:
    case Coll::scatter:
      *msg = P * elems;
      *in = c == Coll::reduce_scatter ? P * elems : 0;
      *out = elems;
      break;
    case Coll::alltoall: *msg = *in = *out = P * elems; break;
    case Coll::barrier: *msg = *in = *out = 0; break;
    case Coll::reduce:
      *msg = *in = elems;
      *out = 0;
      break;
    default: *msg = *in = *out = elems;  // allreduce, broadcast; v-variants: this rank's count
  }
}

}  // namespace

int Stats::hist_bucket(int64_t ns) {
  if (ns <= 0) return 0;
  uint64_t v = uint64_t(ns) * 128 / 125;  // ns · 1.024
  if (v < 4) return int(v);
  int e = log2_floor(v);
  int b = 4 * (e - 1) + int((v >> (e - 2)) & 3);
  return std::min(b, kHistBuckets - 1);
}

int Stats::size_bucket(uint64_t bytes) {
  if (bytes == 0) return 0;
  int ceil_log2 = bytes == 1 ? 0 : log2_floor(bytes - 1) + 1;
  return std::min(ceil_log2 + 1, kSizeBuckets - 1);
}

Stats::Stats(int world, const StatsConfig& cfg)
    : cfg_(cfg),
      world_(std::max(world, 0)),
      cells_(new std::atomic<Cell*>[size_t(kColls) * kNumDTypes * kSizeBuckets]),
      ranks_(new RankStat[std::max(world, 1)]) {
  for (size_t i = 0; i < size_t(kColls) * kNumDTypes * kSizeBuckets; i++) cells_[i].store(nullptr, kRel);
  window_.assign(std::max(cfg.straggler_window, 1), -1);
  arrivals.reserve(std::max(world, 1));
}

Stats::~Stats() {
  for (size_t i = 0; i < size_t(kColls) * kNumDTypes * kSizeBuckets; i++) delete cells_[i].load(kRel);
}

Stats::Cell* Stats::cell(uint32_t coll, uint32_t dtype, int sb) {
  auto& slot = cells_[(size_t(coll % kColls) * kNumDTypes + dtype % kNumDTypes) * kSizeBuckets + sb];
  Cell* c = slot.load(std::memory_order_acquire);
  if (!c) {
    c = new Cell();
    slot.store(c, std::memory_order_release);  // readers see a fully built cell
  }
  return c;
}

void Stats::on_collective(Coll c, uint32_t dtype, uint32_t group, uint64_t seq, uint64_t count, int64_t exec0,
                          int64_t exec1) {
  // With telemetry off, the plan's end stands in for the completion time (one clock read less).
  int64_t done = cfg_.enabled ? shm::now_ns() : exec1;
  // Each rank's last completed op is kept even with telemetry off: `onet status` names it.
  for (const Arrival& a : arrivals) {
    if (a.rank < 0 || a.rank >= world_) continue;
    RankStat& r = ranks_[a.rank];
    r.last_coll.store(uint32_t(c), kRel);
    r.last_group.store(group, kRel);
    r.last_seq.store(seq, kRel);
    r.last_done_ns.store(done, kRel);
  }
  if (!cfg_.enabled) return;
  const int P = int(arrivals.size());
  uint32_t dt = c == Coll::barrier || !dtype_valid(dtype) ? 0 : dtype;
  uint64_t es = c == Coll::barrier ? 0 : dtype_size(DType(dt));
  uint64_t msg, in, out;
  sizes(c, count, uint64_t(P), &msg, &in, &out);
  msg *= es, in *= es, out *= es;
  // Who arrived last, and by how much: the gap between the last and next-to-last post.
  int64_t first = INT64_MAX, last = INT64_MIN, second = INT64_MIN;
  int last_rank = -1;
  for (const Arrival& a : arrivals) {
    first = std::min(first, a.posted_ns);
    if (a.posted_ns > last) {
      second = last;
      last = a.posted_ns;
      last_rank = a.rank;
    } else if (a.posted_ns > second) second = a.posted_ns;
    if (a.rank >= 0 && a.rank < world_) {
      uint64_t hw = std::max(in ? a.in_off + in : 0, out ? a.out_off + out : 0);
      RankStat& r = ranks_[a.rank];
      if (hw > r.arena_hw.load(kRel)) r.arena_hw.store(hw, kRel);
    }
  }
  Cell* cl = cell(uint32_t(c), dt, size_bucket(msg));
  bump(cl->calls, uint64_t(1));
  bump(cl->bytes, msg);
  bump(cl->dur_ns, uint64_t(std::max<int64_t>(done - last, 0)));
  bump(cl->wait_ns, uint64_t(std::max<int64_t>(last - first, 0)));
  bump(cl->hist[hist_bucket(done - last)], uint64_t(1));
  bump(collectives_, uint64_t(1));
  if (P > 1) {
    int late = last - second >= cfg_.straggler_gap_ns && last_rank >= 0 && last_rank < world_ ? last_rank : -1;
    int old = window_[window_pos_];
    if (old >= 0) ranks_[old].late_window.store(ranks_[old].late_window.load(kRel) - 1, kRel);
    window_[window_pos_] = late;
    window_pos_ = (window_pos_ + 1) % window_.size();
    if (window_filled_.load(kRel) < window_.size()) bump(window_filled_, uint64_t(1));
    if (late >= 0) {
      RankStat& r = ranks_[late];
      bump(r.late_window, uint64_t(1));
      bump(r.late_total, uint64_t(1));
      bump(r.late_ns, uint64_t(last - second));
    }
  }
  if (cfg_.trace) {
    TraceRec t{uint32_t(c), dt, group, seq, msg, last, exec0, exec1, done, {}};
    t.posts.reserve(arrivals.size());
    for (const Arrival& a : arrivals) t.posts.emplace_back(a.rank, a.posted_ns);
    std::lock_guard<std::mutex> g(trace_mu_);
    if (trace_.size() >= cfg_.trace_capacity) {
      trace_.pop_front();
      trace_dropped_++;
    }
    trace_.push_back(std::move(t));
  }
}

std::string Stats::json() const {
  std::ostringstream o;
  o << "{\"enabled\":" << (cfg_.enabled ? "true" : "false") << ",\"trace\":" << (cfg_.trace ? "true" : "false")
    << ",\"world\":" << world_ << ",\"nowNs\":" << shm::now_ns() << ",\"posts\":" << posts_.load(kRel)
    << ",\"completions\":" << completions_.load(kRel) << ",\"collectives\":" << collectives_.load(kRel)
    << ",\"fused\":" << fused_.load(kRel) << ",\"fusedExchanges\":" << fused_exchanges_.load(kRel)
    << ",\"window\":{\"size\":" << window_.size() << ",\"filled\":" << window_filled_.load(kRel)
    << ",\"gapNs\":" << cfg_.straggler_gap_ns << "},\"errors\":[";
  for (int i = 0; i < 8; i++) o << (i ? "," : "") << errors_[i].load(kRel);
  o << "],\"cells\":[";
  bool first = true;
  for (int c = 0; c < kColls; c++)
    for (uint32_t d = 0; d < kNumDTypes; d++)
      for (int s = 0; s < kSizeBuckets; s++) {
        const Cell* cl = cells_[(size_t(c) * kNumDTypes + d) * kSizeBuckets + s].load(std::memory_order_acquire);
        if (!cl) continue;
        o << (first ? "" : ",") << "{\"coll\":\"" << coll_name(Coll(c)) << "\",\"dtype\":\"" << dtype_name(DType(d))
          << "\",\"sizeBucket\":" << s << ",\"calls\":" << cl->calls.load(kRel) << ",\"bytes\":" << cl->bytes.load(kRel)
          << ",\"durNs\":" << cl->dur_ns.load(kRel) << ",\"waitNs\":" << cl->wait_ns.load(kRel) << ",\"hist\":[";
        bool f2 = true;
        for (int b = 0; b < kHistBuckets; b++) {
          uint64_t n = cl->hist[b].load(kRel);
          if (!n) continue;
          o << (f2 ? "" : ",") << "[" << b << "," << n << "]";
          f2 = false;
        }
        o << "]}";
        first = false;
      }
  o << "],\"ranks\":[";
  for (int r = 0; r < world_; r++) {
    const RankStat& s = ranks_[r];
    uint32_t lc = s.last_coll.load(kRel);
    o << (r ? "," : "") << "{\"rank\":" << r
      << ",\"lastColl\":" << (lc ? "\"" + std::string(coll_name(Coll(lc))) + "\"" : "null")
      << ",\"lastGroup\":" << s.last_group.load(kRel) << ",\"lastSeq\":" << s.last_seq.load(kRel)
      << ",\"lastDoneNs\":" << s.last_done_ns.load(kRel) << ",\"lateWindow\":" << s.late_window.load(kRel)
      << ",\"lateTotal\":" << s.late_total.load(kRel) << ",\"lateNs\":" << s.late_ns.load(kRel)
      << ",\"arenaHighWater\":" << s.arena_hw.load(kRel) << "}";
  }
  o << "]}";
  return o.str();
}

TraceBatch Stats::drain_trace() {
  std::deque<TraceRec> recs;
  TraceBatch b;
  {
    std::lock_guard<std::mutex> g(trace_mu_);
    recs.swap(trace_);
    b.dropped = trace_dropped_;
    trace_dropped_ = 0;
  }
  b.count = recs.size();
  b.events.reserve(recs.size() * (recs.empty() ? 0 : recs.front().posts.size()) * 6 * 130);
  std::vector<bool> seen(size_t(world_), false);
  char buf[512];
  // One track (tid) per rank: the collective's slice, then its phases nested inside it.
  auto x = [&](const char* name, int tid, int64_t a, int64_t z, const char* args) {
    int n = snprintf(
        buf, sizeof buf,
        "%s{\"name\":\"%s\",\"ph\":\"X\",\"cat\":\"onet\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":%d%s}",
        b.events.empty() ? "" : ",\n", name, double(a) / 1e3, double(std::max<int64_t>(z - a, 0)) / 1e3, tid, args);
    b.events.append(buf, size_t(std::min(n, int(sizeof buf) - 1)));
  };
  for (const TraceRec& t : recs) {
    Coll c = Coll(t.coll);
    char name[64], args[256], wait[64];
    snprintf(name, sizeof name, "%s #%llu", coll_name(c), (unsigned long long)t.seq);
    snprintf(args, sizeof args, ",\"args\":{\"group\":%u,\"seq\":%llu,\"dtype\":\"%s\",\"bytes\":%llu,\"ranks\":%zu}",
             t.group, (unsigned long long)t.seq, c == Coll::barrier ? "none" : dtype_name(DType(t.dtype)),
             (unsigned long long)t.bytes, t.posts.size());
    for (const auto& [rank, posted] : t.posts) {
      if (rank >= 0 && rank < world_ && !seen[rank]) {
        seen[rank] = true;
        b.ranks.push_back(rank);
      }
      snprintf(wait, sizeof wait, ",\"args\":{\"waitedForPeersUs\":%.3f}", double(t.matched - posted) / 1e3);
      x(name, rank, posted, t.done, args);
      x("posted", rank, posted, t.matched, wait);
      x("matched", rank, t.matched, t.exec0, "");
      x("local reduce", rank, t.exec0, t.exec1, "");
      x("network", rank, t.exec1, t.exec1, "");
      x("complete", rank, t.exec1, t.done, "");
    }
  }
  return b;
}

}  // namespace onet
