// opennetworks.jax fast path: an XLA FFI custom call that posts a collective straight into the
// rank's shared-memory slot and waits on the arena's done futex without the GIL
// (docs/protocol.md §3-§4, docs/jax.md). Python (opennetworks/jax/_ffi.py) registers the rank
// with the coordinator, reserves one slot and one data block per device lane from the Python
// client's engine, and hands them over with onet_jax_attach / onet_jax_set_lane.
//
// Small calls take the rank-side fast lane (native/rank/fastlane.h) when the communicator has one:
// Python (_ffi.py) sets the lane's segment up through the Python FastLane (capability, segment,
// its first call), then hands its base, this rank's group rank, the next sequence number and the
// address of onet_fl_call (build/Release/libonet_fastlane.so, the engine's own reduce kernels) over
// with onet_jax_set_fastlane. From then on this side owns the lane's sequence (Python reads it back
// with onet_jax_fastlane_seq). Which calls take it is the Python path's rule (_fastlane.py): the
// collective and the per-rank input bytes against ONET_FASTLANE_MAX_BYTES, never timing.
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "common/gen/errors.h"
#include "common/proc_alive.h"
#include "common/gen/enums.h"
#include "rank/fastlane.h"
#include "shm/layout.h"
#include "shm/spin_policy.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
namespace shm = onet::shm;
using onet::Code;

namespace {

// Wire values (spec/enums.json, docs/protocol.md §5): the `coll` attribute Python passes.
constexpr int64_t kAllreduce = int64_t(onet::Coll::allreduce), kBroadcast = int64_t(onet::Coll::broadcast),
                  kAllgather = int64_t(onet::Coll::allgather), kReduceScatter = int64_t(onet::Coll::reduce_scatter),
                  kAlltoall = int64_t(onet::Coll::alltoall), kBarrier = int64_t(onet::Coll::barrier);
constexpr int kMaxLanes = 64;
constexpr double kCoordCheckS = 0.05;  // how often a lane call checks the coordinator (_fastlane.py)
constexpr double kLaneYieldUs = 200;   // _spin_policy.py LANE_YIELD_US

// A device lane's rank-side fast lane (fastlane.h); call == nullptr: none, every call posts to the engine.
struct FastLane {
  int (*call)(onet_fl_call_t*) = nullptr;
  void (*abort)(void*, int) = nullptr;
  void* base = nullptr;
  int rank = 0;                                     // group rank in the segment
  uint64_t seq = 0, max_bytes = 0, direct_min = 0;  // direct_min: fastlane.h direct_call
  double spin_us = 0, next_coord_check = 0;
  bool crowded = false;  // more ranks on this host than cores
  std::string broken;    // set once a peer was gone or late (_fastlane.py FastLane.broken): lane calls fail
};

struct Lane {
  std::mutex mu;
  bool ready = false;
  uint32_t slot = 0;
  uint64_t off = 0, bytes = 0;  // data block inside the data region
  uint32_t group = 0;
  int size = 1, grank = 0;  // group size and this rank's index in it
  uint64_t seq = 0;
  std::string broken;  // set once a request was abandoned (its slot may still be written)
  FastLane fl;
};

struct State {
  char* arena = nullptr;
  shm::CtlHead* ctl = nullptr;
  int rank = 0;
  pid_t coord_pid = 0;
  onet::ProcId coord;  // identity recorded at attach: a zombie or a reused pid is not the coordinator
  double spin_s = 50e-6, timeout_s = 300;
  std::atomic<int> sleepers{0};
  Lane lanes[kMaxLanes];
};
State g;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void futex_wait(std::atomic<uint32_t>* w, uint32_t v, long ns) {
  timespec ts{ns / 1000000000L, ns % 1000000000L};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, v, &ts, nullptr, 0);
}
void futex_wake(std::atomic<uint32_t>* w, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, n, nullptr, nullptr, 0);
}

bool coord_alive() {
  if (g.coord_pid <= 0) return true;
  return onet::proc_alive(g.coord);
}

// Errors are data (STYLE rule 7): XLA carries only a string out of a custom call, so the code,
// the message and the ranks also go into this record, which Python takes with
// onet_jax_take_error() when the call raises (opennetworks/jax/_ops.py) — never parsing the text.
struct ErrorRecord {
  std::mutex mu;
  bool set = false;
  Code code = Code::kOk;
  std::string msg;
  std::vector<int> ranks;
  int lane = -1;  // a fast-lane call's device lane and sequence number (Python words it: FastLane.error_for)
  uint64_t lane_seq = 0;
};
ErrorRecord g_error;

ffi::Error fail(Code code, const std::string& msg, std::vector<int> ranks = {}, int lane = -1, uint64_t seq = 0) {
  {
    std::lock_guard<std::mutex> hold(g_error.mu);
    g_error.set = true;
    g_error.code = code;
    g_error.msg = msg;
    g_error.ranks = std::move(ranks);
    g_error.lane = lane;
    g_error.lane_seq = seq;
  }
  ffi::ErrorCode ec = ffi::ErrorCode::kInternal;
  if (code == Code::kInvalid || code == Code::kMismatch) ec = ffi::ErrorCode::kInvalidArgument;
  else if (code == Code::kTimeout) ec = ffi::ErrorCode::kDeadlineExceeded;
  else if (code == Code::kAborted || code == Code::kClosed) ec = ffi::ErrorCode::kAborted;
  else if (code == Code::kUnsupported) ec = ffi::ErrorCode::kUnimplemented;
  return ffi::Error(ec, "opennetworks: " + msg);
}

const char* coll_name(int64_t c) { return c > 0 && c <= onet::kMaxColl ? onet::gen::kCollNames[c] : "collective"; }

// Post one request in the lane's slot and wait for it (protocol §4). Caller holds lane.mu.
ffi::Error post_and_wait(Lane& L, int64_t coll, uint32_t dtype, int64_t redop, int64_t root, uint64_t count,
                         uint64_t in_off, uint64_t out_off) {
  shm::Slot* s = shm::slot_at(g.arena, L.slot);
  uint64_t seq = ++L.seq;
  s->status = 0;
  s->seq = seq;
  s->coll = uint32_t(coll);
  s->dtype = dtype;
  s->redop = uint32_t(redop);
  s->root = int32_t(root);
  s->count = count;
  s->in_off = in_off;
  s->out_off = out_off;
  s->aux_off = 0;
  s->group = L.group;
  s->tag = 0;
  s->scale = 1.0;
  s->src = -1;
  s->flags = 0;
  s->out_count = 0;
  s->state.store(shm::kPosted, std::memory_order_release);
  shm::rank_line(g.arena)->post_count.fetch_add(1);
  g.ctl->bell.fetch_add(1);
  if (g.ctl->coord_sleeping.load() == 1) futex_wake(&g.ctl->bell, 1);

  auto* cl = shm::coord_line(g.arena);
  auto finished = [s] {
    uint32_t st = s->state.load(std::memory_order_acquire);
    return st == shm::kDone || st == shm::kError;
  };
  // Adaptive waiting (shm/spin_policy.h), per calling thread: busy, yield or no spin by the host's
  // runnable tasks; the budget follows this thread's recent waits (ONET_SPIN_MAX_US=0: fixed, yielding).
  static const shm::SpinLimits lim = shm::spin_limits_from_env();
  thread_local shm::LoadSampler load;
  thread_local int64_t budget_us = -1;
  if (budget_us < 0) budget_us = int64_t(g.spin_s * 1e6);
  const shm::SpinPlan plan = lim.max_us > 0 ? shm::spin_plan(budget_us, load.sample(int64_t(now_s() * 1e9)), load.cores)
                                            : shm::SpinPlan{shm::SpinMode::yield, budget_us};
  double t0 = now_s(), spin_end = t0 + plan.spin_us * 1e-6, deadline = t0 + g.timeout_s;
  while (!finished() && now_s() < spin_end) {
    if (plan.mode == shm::SpinMode::yield) sched_yield();
    else __builtin_ia32_pause();
  }
  const bool caught = finished();
  while (!finished()) {
    uint32_t v = cl->done_futex.load();
    g.sleepers.fetch_add(1);
    cl->rank_waiting.store(1);
    if (!finished()) futex_wait(&cl->done_futex, v, 20'000'000);  // 20 ms: bounded if a waiter flag races
    if (g.sleepers.fetch_sub(1) == 1) cl->rank_waiting.store(0);
    if (finished()) break;
    std::string what =
        std::string(coll_name(coll)) + " #" + std::to_string(seq) + " in group " + std::to_string(L.group);
    if (g.ctl->closing.load()) {
      L.broken = "the coordinator shut down";
      return fail(Code::kAborted, "rank " + std::to_string(g.rank) + ": the coordinator (pid " +
                                      std::to_string(g.coord_pid) + ") shut down while " + what +
                                      " was pending; restart the job");
    }
    if (!coord_alive()) {
      L.broken = "the coordinator died";
      return fail(Code::kAborted, "rank " + std::to_string(g.rank) + ": coordinator pid " +
                                      std::to_string(g.coord_pid) + " died while " + what +
                                      " was pending; see its log in the job directory and restart the job");
    }
    if (now_s() > deadline) {
      L.broken = what + " timed out";
      return fail(Code::kTimeout, "rank " + std::to_string(g.rank) + ": " + what + " did not complete within " +
                                      std::to_string(int(g.timeout_s)) +
                                      " s; check that every rank calls the same "
                                      "collectives in the same order, or raise ONET_TIMEOUT");
    }
  }
  budget_us = shm::spin_update(budget_us, int64_t((now_s() - t0) * 1e6), caught, lim);
  uint32_t st = s->state.load(std::memory_order_acquire);
  int32_t status = s->status;
  std::string msg;
  std::vector<int> ranks;  // the slot's error rank list (docs/protocol.md §3)
  if (st == shm::kError || status != 0) {
    msg.assign(s->msg, strnlen(s->msg, shm::kSlotMsgBytes));
    ranks.assign(s->ranks, s->ranks + std::min(s->nranks, shm::kSlotMaxRanks));
  }
  s->state.store(shm::kFree, std::memory_order_release);
  if (st == shm::kError || status != 0) {
    Code code = onet::code_known(status) && status != 0 ? Code(status) : Code::kInternal;
    return fail(code, "rank " + std::to_string(g.rank) + ": " + msg, std::move(ranks));
  }
  return ffi::Error::Success();
}

// One collective on the lane's fast lane (caller holds L.mu). The output is written in place: y is
// [P, n] for allgather, [n] otherwise; a reduce_scatter's input is [P, n].
ffi::Error lane_call(Lane& L, int lane, int64_t coll, uint32_t dt, int64_t redop, int64_t root, uint64_t n,
                     const void* in, uint64_t in_bytes, void* out) {
  FastLane& F = L.fl;
  if (!F.broken.empty())
    return fail(Code::kAborted,
                "rank " + std::to_string(g.rank) + ": the fast lane of lane " + std::to_string(lane) +
                    " is unusable after: " + F.broken,
                {g.rank});
  const double t = now_s();
  if (t > F.next_coord_check) {  // what a sleeping engine waiter checks too: the job is over without it
    F.next_coord_check = t + kCoordCheckS;
    const bool closing = g.ctl->closing.load() != 0;
    if (closing || !coord_alive()) {
      F.abort(F.base, g.rank);  // peers waiting in this call learn it at once (EABORTED)
      F.broken = closing ? "the coordinator shut down" : "the coordinator died";
      return fail(Code::kAborted,
                  "rank " + std::to_string(g.rank) + ": " +
                      (closing ? "the coordinator (pid " + std::to_string(g.coord_pid) + ") shut down; restart the job"
                               : "coordinator pid " + std::to_string(g.coord_pid) +
                                     " died; see its log in the job directory and restart the job"),
                  {g.rank});
    }
  }
  // The lane's spin (_spin_policy.py lane_spin_us): busy-poll spin_us while every runnable task has a core,
  // else poll between sched_yield() calls (a negative spin_us tells the lane so).
  static const shm::SpinLimits lim = shm::spin_limits_from_env();
  thread_local shm::LoadSampler load;
  double spin = F.spin_us;
  if (lim.max_us <= 0) spin = F.crowded ? 0 : F.spin_us;
  else if (F.crowded || shm::spin_mode(load.sample(int64_t(t * 1e9)), load.cores) != shm::SpinMode::busy)
    spin = -std::max(F.spin_us, kLaneYieldUs);
  onet_fl_call_t c;
  c.base = F.base;
  c.rank = F.rank;
  c.coll = int32_t(coll);
  c.seq = ++F.seq;
  c.dtype = int32_t(dt);
  c.redop = int32_t(redop);
  c.root = int32_t(root);
  c.flags = onet::fastlane::direct_call(int(coll), in_bytes, F.direct_min) ? onet::fastlane::kDirect : 0;
  c.count = n;
  c.scale = 1.0;
  const bool send = !(coll == kBroadcast && L.grank != root);
  c.in = send ? in : nullptr;
  c.in_bytes = send ? in_bytes : 0;
  c.out = out;
  c.spin_us = spin;
  c.timeout_s = g.timeout_s;
  c.nranks = 0;
  c.msg[0] = 0;
  const int rc = F.call(&c);
  if (rc == 0) return ffi::Error::Success();
  const std::string msg(c.msg, strnlen(c.msg, sizeof c.msg));
  // A peer gone or late: later calls could never line up again (FastLane.error_for marks it so too).
  if (rc == int(Code::kTimeout) || rc == int(Code::kAborted)) F.broken = msg;
  std::vector<int> ranks(c.ranks, c.ranks + std::min(std::max(c.nranks, 0), 64));
  Code code = onet::code_known(rc) ? Code(rc) : Code::kInternal;
  return fail(code, msg, std::move(ranks), lane, c.seq);
}

// XLA element type -> wire dtype and element bytes (spec/enums.json: dtypes[].xla, dtypeAliases.xla).
bool wire_dtype(ffi::DataType t, uint32_t* code, size_t* es) {
  switch (t) {
#define ONET_XLA_CASE(XLA, WIRE, PER)                 \
  case ffi::DataType::XLA:                            \
    static_assert(PER == 1, "one wire element each"); \
    *code = uint32_t(onet::DType::WIRE);              \
    *es = onet::gen::kDTypeBytes[*code];              \
    return true;
    ONET_XLA_DTYPES(ONET_XLA_CASE)
#undef ONET_XLA_CASE
    default: return false;
  }
}

// x is viewed as [p_in, n] and y as [p_out, n] (row-major); pieces of m ≤ n columns go through
// the lane's data block one request at a time.
ffi::Error Collective(ffi::AnyBuffer x, ffi::Buffer<ffi::S32> lane_buf, ffi::Result<ffi::AnyBuffer> y, int64_t coll,
                      int64_t redop, int64_t root) {
  int lane = lane_buf.typed_data()[0];
  if (!g.arena)
    return fail(Code::kInvalid, "opennetworks.jax is not attached: call opennetworks.jax.initialize() first");
  if (lane < 0 || lane >= kMaxLanes || !g.lanes[lane].ready)
    return fail(Code::kInvalid, "device lane " + std::to_string(lane) +
                                    " is not set up: run the collective through "
                                    "opennetworks.jax (it prepares one lane per device)");
  Lane& L = g.lanes[lane];
  std::lock_guard<std::mutex> hold(L.mu);
  if (!L.broken.empty())
    return fail(Code::kAborted,
                "rank " + std::to_string(g.rank) + ": lane " + std::to_string(lane) +
                    " is unusable after an earlier failure (" + L.broken + "); restart the job",
                {g.rank});
  if (coll == kBarrier) {
    if (L.fl.call) return lane_call(L, lane, coll, uint32_t(onet::DType::u8), 0, 0, 0, nullptr, 0, nullptr);
    return post_and_wait(L, coll, uint32_t(onet::DType::u8), 0, 0, 0, L.off, L.off);
  }
  uint32_t dt;
  size_t es;
  if (!wire_dtype(x.element_type(), &dt, &es))
    return fail(Code::kUnsupported,
                std::string(coll_name(coll)) +
                    ": element type is not supported; use f32 f64 f16 bf16 int8 uint8 int32 int64 or bool");
  const int P = L.size;
  int p_in = 1, p_out = 1;
  if (coll == kAllgather) p_out = P;
  else if (coll == kReduceScatter) p_in = P;
  else if (coll == kAlltoall) p_in = p_out = P;
  else if (coll != kAllreduce && coll != kBroadcast)
    return fail(Code::kInvalid, "unknown collective " + std::to_string(coll));
  size_t nx = x.element_count();
  if (nx % p_in)
    return fail(Code::kInvalid, std::string(coll_name(coll)) + ": input size is not divisible by the group size");
  uint64_t n = nx / p_in;
  if (n == 0) return ffi::Error::Success();
  // The fast lane's rule (_fastlane.py FastLane.takes): this rank's input bytes (a broadcast's non-root ranks
  // count theirs too) within ONET_FASTLANE_MAX_BYTES, or a direct call; all_to_all always goes to the engine.
  if (L.fl.call && coll != kAlltoall &&
      (nx * es <= L.fl.max_bytes || onet::fastlane::direct_call(int(coll), nx * es, L.fl.direct_min)))
    return lane_call(L, lane, coll, dt, redop, root, n, x.untyped_data(), nx * es, y->untyped_data());
  const int blk = std::max(p_in, p_out);
  uint64_t m_max = L.bytes / (uint64_t(blk) * es);
  m_max = m_max >= 64 ? m_max & ~uint64_t(63) : m_max;  // keep pieces 64-byte aligned inside the block
  if (m_max == 0) return fail(Code::kInvalid, "ONET_JAX_FFI_BYTES is too small for one element per rank");
  const char* xs = static_cast<const char*>(x.untyped_data());
  char* ys = static_cast<char*>(y->untyped_data());
  char* data = shm::data_of(g.arena) + L.off;
  for (uint64_t c0 = 0; c0 < n; c0 += m_max) {
    uint64_t m = std::min(m_max, n - c0);
    size_t piece = m * es;
    uint64_t in_off = L.off, out_off = L.off;
    switch (coll) {
      case kAllreduce:
      case kBroadcast:
        if (coll == kAllreduce || L.grank == root) memcpy(data, xs + c0 * es, piece);
        break;
      case kAllgather:
        in_off = L.off + uint64_t(L.grank) * piece;  // the input sits at our block of the output
        memcpy(data + L.grank * piece, xs + c0 * es, piece);
        break;
      case kReduceScatter:
        out_off = L.off + uint64_t(L.grank) * piece;  // the output sits at our block of the input
        [[fallthrough]];
      case kAlltoall:
        for (int p = 0; p < P; p++) memcpy(data + p * piece, xs + (p * n + c0) * es, piece);
        break;
    }
    ffi::Error e = post_and_wait(L, coll, dt, redop, root, m, in_off, out_off);
    if (e.failure()) return e;
    if (coll == kAllgather || coll == kAlltoall) {
      for (int p = 0; p < p_out; p++) memcpy(ys + (p * n + c0) * es, data + p * piece, piece);
    } else {
      memcpy(ys + c0 * es, shm::data_of(g.arena) + out_off, piece);
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(onet_jax_collective, Collective,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("coll")
                                  .Attr<int64_t>("redop")
                                  .Attr<int64_t>("root"));

extern "C" {

// Point the library at this rank's mapped arena and the job's ctl segment.
int onet_jax_attach(void* arena, void* ctl, int rank, int coord_pid, double spin_us, double timeout_s) {
  g.arena = static_cast<char*>(arena);
  g.ctl = static_cast<shm::CtlHead*>(ctl);
  g.rank = rank;
  g.coord_pid = pid_t(coord_pid);
  g.coord = onet::proc_identify(g.coord_pid);
  g.spin_s = spin_us * 1e-6;
  g.timeout_s = timeout_s;
  return 0;
}

// Hand lane `lane` a slot and a data block that the Python engine will not use.
int onet_jax_set_lane(int lane, uint32_t slot, uint64_t off, uint64_t bytes, uint32_t group, int size, int grank) {
  if (lane < 0 || lane >= kMaxLanes || slot >= shm::kSlots) return -1;
  Lane& L = g.lanes[lane];
  std::lock_guard<std::mutex> hold(L.mu);
  L.slot = slot;
  L.off = off;
  L.bytes = bytes;
  L.group = group;
  L.size = size;
  L.grank = grank;
  L.seq = 0;
  L.broken.clear();
  L.fl = FastLane{};
  L.ready = true;
  return 0;
}

// Stop using every lane (the Python client is closing).
void onet_jax_detach() {
  for (auto& L : g.lanes) {
    std::lock_guard<std::mutex> hold(L.mu);
    L.ready = false;
  }
  g.arena = nullptr;
}

// Python's engine bumps post_count through this once the library is attached, so that its
// bumps and ours are one atomic counter.
void onet_jax_bump_post_count() {
  if (g.arena) shm::rank_line(g.arena)->post_count.fetch_add(1);
}

// The error of the last failed call (see ErrorRecord), taken once: returns 0 when there is none,
// else 1 with *code, up to max_ranks ranks (*nranks = how many), and msg (NUL-terminated, cut at cap).
// *lane: the device lane of a failed fast-lane call (-1: an engine call), *lane_seq: its sequence number.
int onet_jax_take_error(int32_t* code, int32_t* ranks, int max_ranks, int32_t* nranks, char* msg, size_t cap,
                        int32_t* lane, uint64_t* lane_seq) {
  std::lock_guard<std::mutex> hold(g_error.mu);
  if (!g_error.set) return 0;
  g_error.set = false;
  *code = int32_t(g_error.code);
  *lane = g_error.lane;
  *lane_seq = g_error.lane_seq;
  *nranks = int32_t(std::min<size_t>(g_error.ranks.size(), size_t(std::max(max_ranks, 0))));
  for (int32_t i = 0; i < *nranks; i++) ranks[i] = g_error.ranks[i];
  if (cap > 0) {
    size_t n = std::min(g_error.msg.size(), cap - 1);
    memcpy(msg, g_error.msg.data(), n);
    msg[n] = 0;
  }
  return 1;
}

uint64_t onet_jax_lane_seq(int lane) { return lane >= 0 && lane < kMaxLanes ? g.lanes[lane].seq : 0; }

// Continue lane `lane`'s engine calls after `seq` (the Python client numbered some of its group's calls:
// the fast lane's setup barrier).
int onet_jax_set_seq(int lane, uint64_t seq) {
  if (lane < 0 || lane >= kMaxLanes) return -1;
  std::lock_guard<std::mutex> hold(g.lanes[lane].mu);
  g.lanes[lane].seq = seq;
  return 0;
}

// Hand lane `lane` its communicator's fast lane: the mapped segment, this rank's group rank in it, the
// last lane call number Python made, the limit (ONET_FASTLANE_MAX_BYTES), the spin window (ONET_SPIN_US),
// whether the host has fewer cores than ranks, the lane's onet_fl_call / onet_fl_abort, and the smallest
// direct call (_fastlane.py FastLane.direct_min). call == nullptr
// takes it away (every call then posts to the engine).
int onet_jax_set_fastlane(int lane, void* base, int rank, uint64_t seq, uint64_t max_bytes, double spin_us, int crowded,
                          void* call, void* abort, uint64_t direct_min) {
  if (lane < 0 || lane >= kMaxLanes) return -1;
  Lane& L = g.lanes[lane];
  std::lock_guard<std::mutex> hold(L.mu);
  L.fl = FastLane{};
  if (!call || !abort || !base) return 0;
  L.fl.call = reinterpret_cast<int (*)(onet_fl_call_t*)>(call);
  L.fl.abort = reinterpret_cast<void (*)(void*, int)>(abort);
  L.fl.base = base;
  L.fl.rank = rank;
  L.fl.seq = seq;
  L.fl.max_bytes = max_bytes;
  L.fl.direct_min = direct_min;
  L.fl.spin_us = spin_us;
  L.fl.crowded = crowded != 0;
  return 0;
}

// The last fast-lane call number of lane `lane` (Python's FastLane takes the sequence back from it).
uint64_t onet_jax_fastlane_seq(int lane) {
  if (lane < 0 || lane >= kMaxLanes) return 0;
  std::lock_guard<std::mutex> hold(g.lanes[lane].mu);
  return g.lanes[lane].fl.seq;
}

int onet_jax_max_lanes() { return kMaxLanes; }

}  // extern "C"
