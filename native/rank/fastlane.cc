// Rank-side fast lane: one small collective among the ranks of a single-host communicator, in a
// shared segment (layout and the ordering argument: fastlane.h). Cost: one copy in, one cache-line
// publish, P-1 cache-line polls, then P·S bytes read per rank (a cooperative allreduce: 2·S and a second
// meeting, fastlane.h); no coordinator, no syscall unless a peer is late by more than the spin window.
#include "rank/fastlane.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/gen/enums.h"
#include "common/proc_alive.h"
#include "common/status.h"
#include "common/types.h"
#include "reduce/reduce.h"

namespace onet::fastlane {
namespace {

using Clock = std::chrono::steady_clock;

Head* head(void* base) { return static_cast<Head*>(base); }
Line* line(void* base, int r) { return reinterpret_cast<Line*>(static_cast<char*>(base) + 64 * (1 + r)); }
char* block(void* base, int r, uint64_t seq) {
  const Head* h = head(base);
  return static_cast<char*>(base) + head_bytes(h->size) + (2 * uint64_t(r) + seq % 2) * block_bytes(h->cap);
}

template <class T>
T load(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <class T>
void store(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void futex_wait(uint32_t* addr, uint32_t expected, double seconds) {
  timespec ts{time_t(seconds), long((seconds - double(time_t(seconds))) * 1e9)};
  syscall(SYS_futex, addr, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

// Publish: make this rank's block visible, then wake whoever sleeps on the shared word.
void publish(void* base, int rank, uint64_t seq, uint64_t Line::*word = &Line::seq) {
  Head* h = head(base);
  store(&(line(base, rank)->*word), seq);
  __atomic_fetch_add(&h->wake, 1u, __ATOMIC_SEQ_CST);
  for (uint32_t r = 0; r < h->size; r++) {
    if (int(r) != rank && load(&line(base, int(r))->sleeping)) {
      syscall(SYS_futex, &h->wake, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
      break;
    }
  }
}

std::string list(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

// The yielding window (spin_us < 0) of this process, in ns (0: not set yet). It adapts like the engine's
// spin budget (_spin_policy.spin_update): a wait caught while yielding grows it by 1/4, one that slept but
// ended within the cap (-spin_us) makes it 1.5x that wait, a longer one halves it, within [2 µs, cap]. So a
// peer that computes between collectives gets the core back, and tight loops of small calls keep yielding.
std::atomic<int64_t> g_yield_ns{0};

int64_t yield_window(int64_t cap_ns) {
  const int64_t b = g_yield_ns.load(std::memory_order_relaxed);
  return b > 0 ? std::min(b, cap_ns) : cap_ns;
}

void yield_adapt(int64_t cap_ns, int64_t win_ns, int64_t waited_ns, bool caught) {
  int64_t b = win_ns;
  if (caught) b = b + b / 4 + 1000;
  else if (waited_ns <= cap_ns) b = std::max(waited_ns + waited_ns / 2, b + b / 4 + 1000);
  else b = b / 2;
  g_yield_ns.store(std::clamp<int64_t>(b, 2000, std::max<int64_t>(cap_ns, 2000)), std::memory_order_relaxed);
}

// Wait until every peer published `seq`: spin for spin_us (< 0: yield for an adaptive window of at most
// -spin_us), then sleep in ≤ 50 ms steps, checking the abort word, each missing peer's liveness and the
// deadline between sleeps.
// `word`: which Line word to wait on (&Line::seq: arrived; &Line::red: its cooperative slice is folded).
Status wait_all(void* base, int rank, uint64_t seq, double spin_us, double timeout_s,
                uint64_t Line::*word = &Line::seq) {
  Head* h = head(base);
  const int P = int(h->size);
  auto missing = [&](std::vector<int>* who, std::vector<int>* grp) {
    for (int r = 0; r < P; r++) {
      if (load(&(line(base, r)->*word)) < seq) {
        if (who) who->push_back(line(base, r)->global_rank);
        if (grp) grp->push_back(r);
      }
    }
  };
  auto all_here = [&] {
    for (int r = 0; r < P; r++)
      if (load(&(line(base, r)->*word)) < seq) return false;
    return true;
  };
  const auto t0 = Clock::now();
  // spin_us < 0: more runnable tasks than cores (_spin_policy.lane_spin_us): poll between sched_yield()
  // calls for -spin_us µs, handing the core to whoever else is runnable (often the peer waited for),
  // instead of a futex sleep, whose wake-up costs the publisher a syscall and both sides a context switch.
  const bool yield = spin_us < 0;
  const int64_t cap_ns = int64_t((yield ? -spin_us : spin_us) * 1e3);
  const int64_t win_ns = yield ? yield_window(cap_ns) : cap_ns;
  const auto spin_end = t0 + std::chrono::nanoseconds(win_ns);
  for (unsigned i = 0; !all_here(); i++) {
    if (yield) {
      if (Clock::now() > spin_end) break;
      sched_yield();
      continue;
    }
    if ((i & 63) == 0 && Clock::now() > spin_end) break;
    __builtin_ia32_pause();
  }
  const bool caught = yield && all_here();
  const auto deadline = t0 + std::chrono::nanoseconds(int64_t(timeout_s * 1e9));
  Line* me = line(base, rank);
  const int my_global = me->global_rank;
  while (!all_here()) {
    uint32_t ab = load(&h->aborted);
    if (ab)
      return {Code::kAborted,
              "rank " + std::to_string(my_global) + ": the communicator was aborted by rank " + std::to_string(ab - 1),
              {int(ab - 1)}};
    std::vector<int> dead;
    std::vector<int> grp;
    std::string who;
    missing(nullptr, &grp);
    for (int r : grp) {
      Line* l = line(base, r);
      if (l->pid && !proc_alive(ProcId{pid_t(l->pid), l->start})) {
        dead.push_back(l->global_rank);
        who += (who.empty() ? "rank " : ", rank ") + std::to_string(l->global_rank) + " (pid " +
               std::to_string(l->pid) + ")";
      }
    }
    if (!dead.empty())
      return {Code::kAborted,
              "rank " + std::to_string(my_global) + ": " + who + " died before arriving at fast-lane collective #" +
                  std::to_string(seq) + "; the collective cannot finish (shrink the group or restart the job)",
              dead};
    auto now = Clock::now();
    if (now > deadline) {
      std::vector<int> who;
      missing(&who, nullptr);
      return {Code::kTimeout,
              "rank " + std::to_string(my_global) + ": fast-lane collective #" + std::to_string(seq) + " waited " +
                  std::to_string(int(timeout_s)) + " s for rank(s) " + list(who) +
                  "; they did not arrive (raise ONET_TIMEOUT or check that every rank calls the same collectives)",
              who};
    }
    __atomic_store_n(&me->sleeping, 1u, __ATOMIC_SEQ_CST);  // visible before we read wake (publish reads it)
    uint32_t v = __atomic_load_n(&h->wake, __ATOMIC_SEQ_CST);
    if (!all_here()) futex_wait(&h->wake, v, 0.05);
    store(&me->sleeping, 0u);
  }
  if (yield) yield_adapt(cap_ns, win_ns, std::chrono::nanoseconds(Clock::now() - t0).count(), caught);
  return Status::Ok();
}

// Every rank checks every peer's Desc against its own: all see the same blocks, so all agree. The
// messages follow the engine's (engine/match.cc), field by field.
Status check(void* base, int /*rank*/, const Desc& own) {
  const Desc& mine = *reinterpret_cast<const Desc*>(block(base, 0, own.seq));  // the reference: group rank 0
  const int rank = 0;
  const int P = int(head(base)->size);
  const bool reduces = mine.coll == uint32_t(Coll::allreduce) || mine.coll == uint32_t(Coll::reduce_scatter);
  const bool rooted = mine.coll == uint32_t(Coll::broadcast);
  auto coll_str = [](uint32_t c) { return std::string(gen::kCollNames[c <= kMaxColl ? c : 0]); };
  auto dt_str = [](uint32_t t) { return std::string(gen::kDTypeNames[t < kNumDTypes ? t : 0]); };
  for (int r = 0; r < P; r++) {
    const Desc* d = reinterpret_cast<const Desc*>(block(base, r, mine.seq));
    const std::string a = "rank " + std::to_string(line(base, rank)->global_rank);
    const std::string b = "rank " + std::to_string(line(base, r)->global_rank);
    const std::string label = "fast-lane " + coll_str(mine.coll) + " #" + std::to_string(mine.seq);
    std::string what;
    if (d->coll != mine.coll)
      what = "fast-lane #" + std::to_string(mine.seq) + ": " + a + " called " + coll_str(mine.coll) + ", " + b +
             " called " + coll_str(d->coll);
    else if (d->dtype != mine.dtype)
      what = label + ": dtype differs: " + a + " has " + dt_str(mine.dtype) + ", " + b + " has " + dt_str(d->dtype);
    else if (reduces && d->redop != mine.redop)
      what = label + ": reduce op differs: " + a + " has " + redop_name(RedOp(mine.redop)) + ", " + b + " has " +
             redop_name(RedOp(d->redop));
    else if (rooted && d->root != mine.root)
      what = label + ": root differs: " + a + " has " + std::to_string(mine.root) + ", " + b + " has " +
             std::to_string(d->root);
    else if ((d->flags & kDirect) != (mine.flags & kDirect))
      what = label + ": " + a + " runs it " + (mine.flags & kDirect ? "direct" : "through the blocks") + ", " + b +
             " " + (d->flags & kDirect ? "direct" : "through the blocks") +
             " (ONET_FASTLANE_DIRECT_MIN_BYTES, or process_vm_readv allowed on one rank only)";
    else if (d->count != mine.count)
      what = label + ": count differs: " + a + " has " + std::to_string(mine.count) + ", " + b + " has " +
             std::to_string(d->count);
    else if (reduces && std::memcmp(&d->scale, &mine.scale, 8) != 0)
      what = label + ": premul_sum factor differs: " + a + " has " + std::to_string(mine.scale) + ", " + b + " has " +
             std::to_string(d->scale);
    else continue;
    const int g = line(base, r)->global_rank, me = line(base, rank)->global_rank;
    return {Code::kMismatch,
            what + " — every rank must make the same collective call in the same order",
            {std::min(g, me), std::max(g, me)}};
  }
  return Status::Ok();
}

Status fold(void* base, int rank, const Desc& mine, Coll coll, uint64_t n, size_t es, void* out, const void* in,
            std::vector<const void*>& srcs);
Status coop_allreduce(void* base, int rank, const Desc& mine, uint64_t n, size_t es, void* out,
                      std::vector<const void*>& srcs, double spin_us, double timeout_s);

// fastlane.h "Direct calls": read the peers' tensors, meet again on Line::red, then fail alike if any read did.
Status run_direct(void* base, int rank, const Desc& mine, const void* in, void* out, double spin_us, double timeout_s) {
  const int P = int(head(base)->size);
  Line* me = line(base, rank);
  int peer = -1;
  Status folded = Status::Ok();
  const int e = direct_read(base, rank, mine, dtype_size(DType(mine.dtype)), in, out, &peer, &folded);
  if (e) {
    me->bad_errno = e;
    me->bad_peer = peer >= 0 ? line(base, peer)->global_rank : -1;
    store(&me->bad, mine.seq);
  }
  publish(base, rank, mine.seq, &Line::red);
  Status st = wait_all(base, rank, mine.seq, spin_us, timeout_s, &Line::red);
  if (!st.ok()) return st;
  if (!folded.ok()) {  // every rank's kernels refuse the same op and dtype: all fail alike
    if (folded.ranks.empty()) folded.ranks.push_back(me->global_rank);
    return folded;
  }
  for (int r = 0; r < P; r++) {
    const Line* l = line(base, r);
    if (load(&l->bad) != mine.seq) continue;
    const int err = l->bad_errno, g = l->global_rank;
    const std::string what = "fast-lane " + std::string(gen::kCollNames[mine.coll]) + " #" + std::to_string(mine.seq) +
                             ": rank " + std::to_string(g) + " could not reach rank " + std::to_string(l->bad_peer) +
                             "'s tensor with process_vm_readv/writev (" + std::strerror(err) + ")";
    if (err == ESRCH)
      return {Code::kAborted, what + "; that rank is gone (shrink the group or restart the job)", {l->bad_peer}};
    return {err == EPERM || err == ENOSYS || err == EACCES ? Code::kUnsupported : Code::kInvalid,
            what + "; this host forbids reading another process's memory (kernel.yama.ptrace_scope, seccomp) or the " +
                "tensor was freed during the call: set ONET_FASTLANE_DIRECT_MIN_BYTES=0 on every rank to copy instead",
            {g, l->bad_peer}};
  }
  return Status::Ok();
}

Status run(void* base, int rank, const Desc& mine, const void* in, uint64_t in_bytes, void* out, double spin_us,
           double timeout_s) {
  Head* h = head(base);
  const int P = int(h->size);
  if (h->magic != kMagic || h->version != kVersion || rank < 0 || rank >= P)
    return {Code::kProto, "fast-lane segment is not initialised for this rank (bad magic/version/rank)"};
  const bool direct = mine.flags & kDirect;
  if (in_bytes > h->cap && !direct)
    return {Code::kInvalid, "fast-lane contribution of " + std::to_string(in_bytes) + " bytes exceeds the segment's " +
                                std::to_string(h->cap) + " (ONET_FASTLANE_MAX_BYTES must match on every rank)"};
  const Coll coll = Coll(mine.coll);
  const size_t es = dtype_size(DType(mine.dtype));
  char* mine_blk = block(base, rank, mine.seq);
  std::memcpy(mine_blk, &mine, sizeof mine);
  if (in_bytes && in && !direct && !(coll == Coll::broadcast && rank != int(mine.root)))
    std::memcpy(mine_blk + 64, in, in_bytes);
  publish(base, rank, mine.seq);
  Status st = wait_all(base, rank, mine.seq, spin_us, timeout_s);
  if (!st.ok()) return st;
  if (!(st = check(base, rank, mine)).ok()) return st;
  const uint64_t n = mine.count;
  if (n == 0 || coll == Coll::barrier) return Status::Ok();
  if (direct) return run_direct(base, rank, mine, in, out, spin_us, timeout_s);
  std::vector<const void*> srcs(P);
  if (coll == Coll::allreduce && coop(uint32_t(P), n * es, h->coop_min))
    st = coop_allreduce(base, rank, mine, n, es, out, srcs, spin_us, timeout_s);
  else st = fold(base, rank, mine, coll, n, es, out, in, srcs);
  if (!st.ok() && st.ranks.empty()) st.ranks.push_back(line(base, rank)->global_rank);
  return st;
}

// fastlane.h "Cooperative allreduce": fold slice `rank` of every block into block 0, wait until every
// slice is folded, copy block 0 out. The same bits as fold(): each element is still folded in rank order.
Status coop_allreduce(void* base, int rank, const Desc& mine, uint64_t n, size_t es, void* out,
                      std::vector<const void*>& srcs, double spin_us, double timeout_s) {
  const uint32_t P = head(base)->size;
  uint64_t lo = 0, hi = 0;
  coop_slice(P, n, es, uint32_t(rank), &lo, &hi);
  for (uint32_t r = 0; r < P; r++) srcs[r] = block(base, int(r), mine.seq) + 64 + lo * es;
  char* res = block(base, 0, mine.seq) + 64;  // the fold's output aliases its first input only
  Status st = reduce::reduce(RedOp(mine.redop), DType(mine.dtype), res + lo * es, srcs.data(), int(P), hi - lo,
                             mine.scale, int(P));
  if (!st.ok()) return st;
  publish(base, rank, mine.seq, &Line::red);
  if (!(st = wait_all(base, rank, mine.seq, spin_us, timeout_s, &Line::red)).ok()) return st;
  std::memcpy(out, res, n * es);
  return Status::Ok();
}

Status fold(void* base, int rank, const Desc& mine, Coll coll, uint64_t n, size_t es, void* out, const void* in,
            std::vector<const void*>& srcs) {
  const int P = int(head(base)->size);
  switch (coll) {
    case Coll::allreduce:
      for (int r = 0; r < P; r++) srcs[r] = block(base, r, mine.seq) + 64;
      return reduce::reduce(RedOp(mine.redop), DType(mine.dtype), out, srcs.data(), P, n, mine.scale, P);
    case Coll::reduce_scatter:
      for (int r = 0; r < P; r++) srcs[r] = block(base, r, mine.seq) + 64 + uint64_t(rank) * n * es;
      return reduce::reduce(RedOp(mine.redop), DType(mine.dtype), out, srcs.data(), P, n, mine.scale, P);
    case Coll::broadcast:
      if (rank != int(mine.root)) std::memcpy(out, block(base, int(mine.root), mine.seq) + 64, n * es);
      else if (out != in) std::memmove(out, in, n * es);
      return Status::Ok();
    case Coll::allgather:
      for (int r = 0; r < P; r++)
        std::memcpy(static_cast<char*>(out) + r * n * es, block(base, r, mine.seq) + 64, n * es);
      return Status::Ok();
    default: return {Code::kUnsupported, "the fast lane does not run " + std::string(gen::kCollNames[mine.coll])};
  }
}

}  // namespace
}  // namespace onet::fastlane

extern "C" int onet_fl_run(void* base, int rank, uint64_t seq, int coll, int dtype, int redop, int root, uint64_t count,
                           double scale, const void* in, uint64_t in_bytes, void* out, double spin_us, double timeout_s,
                           char* msg, size_t msg_len, int* ranks, int max_ranks, int* nranks, int flags) {
  using namespace onet;
  *nranks = 0;
  if (uint32_t(coll) > kMaxColl || !dtype_valid(uint32_t(dtype))) {
    std::snprintf(msg, msg_len, "fast lane: bad collective %d or dtype %d", coll, dtype);
    return int(Code::kInvalid);
  }
  fastlane::Desc d{seq, uint32_t(coll), uint32_t(dtype), uint32_t(redop), uint32_t(root), count, scale, 0, 0, 0, 0};
  if (flags & fastlane::kDirect) {
    d.flags = fastlane::kDirect;
    d.addr = reinterpret_cast<uint64_t>(in);
    d.out = reinterpret_cast<uint64_t>(out);
  }
  Status st = fastlane::run(base, rank, d, in, in_bytes, out, spin_us, timeout_s);
  if (st.ok()) return 0;
  std::snprintf(msg, msg_len, "%s", st.msg.c_str());
  for (int r : st.ranks)
    if (*nranks < max_ranks) ranks[(*nranks)++] = r;
  return int(st.code);
}

// python/opennetworks/_fastlane_native.py packs this struct as "<QiiQiiiiQdQQQdd" and reads the outputs here.
static_assert(offsetof(onet_fl_call_t, seq) == 16 && offsetof(onet_fl_call_t, count) == 40, "call layout");
static_assert(offsetof(onet_fl_call_t, timeout_s) == 88 && offsetof(onet_fl_call_t, nranks) == 96, "call layout");
static_assert(offsetof(onet_fl_call_t, msg) == 356 && sizeof(onet_fl_call_t) == 1384, "call layout");

extern "C" int onet_fl_call(onet_fl_call_t* c) {
  return onet_fl_run(c->base, c->rank, c->seq, c->coll, c->dtype, c->redop, c->root, c->count, c->scale, c->in,
                     c->in_bytes, c->out, c->spin_us, c->timeout_s, c->msg, sizeof c->msg, c->ranks, 64, &c->nranks,
                     c->flags);
}

extern "C" void onet_fl_abort(void* base, int who) {
  auto* h = static_cast<onet::fastlane::Head*>(base);
  __atomic_store_n(&h->aborted, uint32_t(who + 1), __ATOMIC_RELEASE);
  __atomic_fetch_add(&h->wake, 1u, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, &h->wake, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

extern "C" int onet_fl_direct_call(int coll, uint64_t bytes, uint64_t direct_min) {
  return onet::fastlane::direct_call(coll, bytes, direct_min) ? 1 : 0;
}

extern "C" const char* onet_fl_isa() { return onet::reduce::isa(); }
