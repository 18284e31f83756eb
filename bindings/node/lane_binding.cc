// The rank-side fast lane for Node ranks (src/api/comm_lane.ts): make or map a communicator's lane
// segment (layout: native/rank/fastlane.h, the same one Python ranks use, so mixed jobs share it), and
// run one lane call through onet_fl_call (native/rank/fastlane.cc, compiled into the addon with the
// engine's reduce kernels). A call is two halves, as on the Python side (_fastlane_py.py publish,
// _fastlane_native.py complete): lanePublish writes this rank's descriptor and contribution and its
// sequence number without waiting; then, when laneArrived saw every peer publish within the spin
// window, laneRun completes it on the JS thread, else laneWait completes it on a worker thread, so a
// late peer never blocks JavaScript. Either way onet_fl_call runs once per call.
#include <fcntl.h>
#include <linux/futex.h>
#include <napi.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/gen/enums.h"
#include "common/proc_alive.h"
#include "common/status.h"
#include "rank/fastlane.h"
#include "shm/futex.h"
#include "shm/layout.h"
#include "shm/spin_policy.h"
#include "status_error.h"

namespace {

namespace fl = onet::fastlane;
using onet::Code;
constexpr int kBroadcast = int(onet::Coll::broadcast);

struct Mapping {
  void* base;
  size_t size;
};

Napi::Value Fail(Napi::Env env, Code code, const std::string& msg) {
  return onet_node::ThrowStatus(env, onet::Status{code, msg});
}

void Unmap(Napi::Env, void*, Mapping* m) {
  munmap(m->base, m->size);
  delete m;
}

Napi::Value Wrap(Napi::Env env, void* p, size_t n) {
  return Napi::ArrayBuffer::New(env, p, n, Unmap, new Mapping{p, n});
}

void* map_fd(int fd, size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// laneCreate(path, size P, cap) → ArrayBuffer: group rank 0 makes the segment under a temporary name,
// writes the header and renames it into place (peers never see it half made).
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].ToString();
  const uint32_t P = info[1].ToNumber().Uint32Value();
  const uint64_t cap = uint64_t(info[2].ToNumber().Int64Value());
  const size_t n = fl::segment_bytes(P, cap);
  unlink(path.c_str());  // a stale one of an earlier job with the same coordinator pid
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Fail(env, Code::kInternal, "cannot create the fast-lane segment " + tmp + ": " + strerror(errno));
  void* p = ftruncate(fd, off_t(n)) == 0 ? map_fd(fd, n) : nullptr;
  const int err = errno;
  close(fd);
  if (!p) {
    unlink(tmp.c_str());
    return Fail(env, Code::kInternal,
                "cannot size the fast-lane segment " + tmp + " (" + std::to_string(n) +
                    " bytes; /dev/shm too small?): " + strerror(err));
  }
  auto* h = static_cast<fl::Head*>(p);
  h->size = P;
  h->cap = cap;
  h->version = fl::kVersion;
  __atomic_store_n(&h->magic, fl::kMagic, __ATOMIC_RELEASE);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    munmap(p, n);
    unlink(tmp.c_str());
    return Fail(env, Code::kInternal, "cannot publish the fast-lane segment " + path + ": " + strerror(errno));
  }
  return Wrap(env, p, n);
}

// laneOpen(path) → ArrayBuffer, or null when the file does not exist (the caller words that error).
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].ToString();
  int fd = open(path.c_str(), O_RDWR);
  if (fd < 0 && errno == ENOENT) return env.Null();
  if (fd < 0) return Fail(env, Code::kInternal, "cannot open the fast-lane segment " + path + ": " + strerror(errno));
  struct stat st;
  void* p = fstat(fd, &st) == 0 && size_t(st.st_size) >= 4096 ? map_fd(fd, size_t(st.st_size)) : nullptr;
  close(fd);
  if (!p) return Fail(env, Code::kProto, "the fast-lane segment " + path + " cannot be mapped (empty or truncated)");
  return Wrap(env, p, size_t(st.st_size));
}

// laneJoin(seg, groupRank, globalRank): this rank's line (owner pid and start time for the peers'
// liveness checks).
Napi::Value Join(const Napi::CallbackInfo& info) {
  char* base = static_cast<char*>(info[0].As<Napi::ArrayBuffer>().Data());
  auto* l = reinterpret_cast<fl::Line*>(base + 64 * (1 + info[1].ToNumber().Int32Value()));
  const onet::ProcId me = onet::proc_identify(getpid());
  l->global_rank = info[2].ToNumber().Int32Value();
  l->start = me.start;
  l->pid = uint32_t(me.pid);
  __atomic_store_n(&l->attached, 1u, __ATOMIC_RELEASE);
  return info.Env().Undefined();
}

char* block_of(void* base, int rank, uint64_t seq) {
  const auto* h = static_cast<const fl::Head*>(base);
  return static_cast<char*>(base) + fl::head_bytes(h->size) + (2 * uint64_t(rank) + seq % 2) * fl::block_bytes(h->cap);
}

fl::Line* line_of(void* base, int r) { return reinterpret_cast<fl::Line*>(static_cast<char*>(base) + 64 * (1 + r)); }

void* data_of(const Napi::Value& v) {
  if (!v.IsTypedArray()) return nullptr;
  auto t = v.As<Napi::TypedArray>();
  return static_cast<char*>(t.ArrayBuffer().Data()) + t.ByteOffset();
}

// The call described by laneRun's/laneWait's arguments:
// (seg, rank, seq, coll, dtype, redop, root, count, scale, input|null, inBytes, output|null, spinUs, timeoutS,
// flags?): flags kDirect is a direct call (fastlane.h "Direct calls"), whose peers read `input` itself.
onet_fl_call_t describe(const Napi::CallbackInfo& info) {
  onet_fl_call_t c;
  c.base = info[0].As<Napi::ArrayBuffer>().Data();
  c.rank = info[1].ToNumber().Int32Value();
  c.seq = uint64_t(info[2].ToNumber().Int64Value());
  c.coll = info[3].ToNumber().Int32Value();
  c.dtype = info[4].ToNumber().Int32Value();
  c.redop = info[5].ToNumber().Int32Value();
  c.root = info[6].ToNumber().Int32Value();
  c.flags = info.Length() > 14 ? info[14].ToNumber().Int32Value() : 0;
  c.count = uint64_t(info[7].ToNumber().Int64Value());
  c.scale = info[8].ToNumber().DoubleValue();
  // published by lanePublish: nothing is copied again (a direct call's peers read the caller's input)
  c.in = c.flags & fl::kDirect ? data_of(info[9]) : block_of(c.base, c.rank, c.seq) + 64;
  c.in_bytes = 0;
  c.out = data_of(info[11]);
  c.spin_us = info[12].ToNumber().DoubleValue();
  c.timeout_s = info[13].ToNumber().DoubleValue();
  c.nranks = 0;
  c.msg[0] = 0;
  return c;
}

// 0, or {status, message, ranks}: the lane's Status as data.
Napi::Value Outcome(Napi::Env env, int rc, const onet_fl_call_t& c) {
  if (rc == 0) return Napi::Number::New(env, 0);
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", rc);
  o.Set("message", Napi::String::New(env, std::string(c.msg, strnlen(c.msg, sizeof c.msg))));
  Napi::Array r = Napi::Array::New(env);
  for (int i = 0; i < std::min(std::max(c.nranks, 0), 64); i++) r.Set(uint32_t(i), c.ranks[i]);
  o.Set("ranks", r);
  return o;
}

// lanePublish(<the call>) → 0 or {status, message, ranks}: this rank's descriptor, its contribution (not
// for a broadcast's other ranks) and then its sequence number; wakes peers that sleep on the lane.
int publish(const Napi::CallbackInfo& info, onet_fl_call_t& c) {
  const void* in = data_of(info[9]);
  const uint64_t in_bytes = in ? uint64_t(info[10].ToNumber().Int64Value()) : 0;
  auto* h = static_cast<fl::Head*>(c.base);
  const bool direct = c.flags & fl::kDirect;
  if (in_bytes > h->cap && !direct) {
    std::snprintf(c.msg, sizeof c.msg, "fast-lane contribution of %llu bytes exceeds the segment's %llu",
                  static_cast<unsigned long long>(in_bytes), static_cast<unsigned long long>(h->cap));
    return int(Code::kInvalid);
  }
  char* blk = block_of(c.base, c.rank, c.seq);
  fl::Desc d{c.seq, uint32_t(c.coll), uint32_t(c.dtype), uint32_t(c.redop), uint32_t(c.root), c.count, c.scale, 0, 0};
  if (direct) {  // onet_fl_call rewrites the same descriptor: every field must be final here
    d.addr = reinterpret_cast<uint64_t>(in);
    d.out = reinterpret_cast<uint64_t>(c.out);
    d.flags = fl::kDirect;
  }
  std::memcpy(blk, &d, sizeof d);
  if (in_bytes && !direct && !(c.coll == kBroadcast && c.rank != c.root)) std::memcpy(blk + 64, in, in_bytes);
  __atomic_store_n(&line_of(c.base, c.rank)->seq, c.seq, __ATOMIC_RELEASE);
  __atomic_fetch_add(&h->wake, 1u, __ATOMIC_SEQ_CST);
  for (uint32_t r = 0; r < h->size; r++) {
    if (int(r) != c.rank && __atomic_load_n(&line_of(c.base, int(r))->sleeping, __ATOMIC_ACQUIRE)) {
      syscall(SYS_futex, &h->wake, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
      break;
    }
  }
  return 0;
}

Napi::Value Publish(const Napi::CallbackInfo& info) {
  onet_fl_call_t c = describe(info);
  return Outcome(info.Env(), publish(info, c), c);
}

// laneSpinUs(spinUs, crowded) → the spin a lane call uses now (python/opennetworks/_spin_policy.py
// lane_spin_us): spinUs of busy polling while every runnable task has a core, else -max(spinUs, 200):
// poll between sched_yield() calls (ONET_SPIN_MAX_US=0: the fixed policy, spinUs or 0 when crowded).
Napi::Value SpinUs(const Napi::CallbackInfo& info) {
  static const onet::shm::SpinLimits lim = onet::shm::spin_limits_from_env();
  static onet::shm::LoadSampler load;
  const double spin = info[0].ToNumber().DoubleValue();
  const bool crowded = info[1].ToBoolean();
  double r = spin;
  if (lim.max_us <= 0) r = crowded ? 0 : spin;
  else if (crowded || onet::shm::spin_mode(load.sample(onet::shm::now_ns()), load.cores) != onet::shm::SpinMode::busy)
    r = -std::max(spin, 200.0);
  return Napi::Number::New(info.Env(), r);
}

// laneArrived(seg, seq, spinUs) → whether every peer published call `seq` (or the lane was aborted)
// within |spinUs| of polling (spinUs < 0: yielding the core between polls): then completing it does not wait.
bool arrived(void* base, uint64_t seq, double spin) {
  const bool yield = spin < 0;
  const auto* h = static_cast<const fl::Head*>(base);
  auto here = [&] {
    if (__atomic_load_n(&h->aborted, __ATOMIC_ACQUIRE)) return true;
    for (uint32_t r = 0; r < h->size; r++)
      if (__atomic_load_n(&line_of(base, int(r))->seq, __ATOMIC_ACQUIRE) < seq) return false;
    return true;
  };
  const auto window = std::chrono::nanoseconds(int64_t((yield ? -spin : spin) * 1e3));
  const auto end = std::chrono::steady_clock::now() + window;
  for (unsigned i = 0; !here(); i++) {
    if ((yield || (i & 63) == 0) && std::chrono::steady_clock::now() > end) return false;
    if (yield) sched_yield();
    else __builtin_ia32_pause();
  }
  return true;
}

Napi::Value Arrived(const Napi::CallbackInfo& info) {
  const bool ok = arrived(info[0].As<Napi::ArrayBuffer>().Data(), uint64_t(info[1].ToNumber().Int64Value()),
                          info[2].ToNumber().DoubleValue());
  return Napi::Boolean::New(info.Env(), ok);
}

// laneTry(<the call>) → 0, {status, message, ranks}, or -1: lanePublish, then, when laneArrived within the
// spin, laneRun, in one call from JavaScript (-1: the peers are late; finish it with laneWait).
Napi::Value Try(const Napi::CallbackInfo& info) {
  onet_fl_call_t c = describe(info);
  int rc = publish(info, c);
  if (rc == 0 && !arrived(c.base, c.seq, c.spin_us)) return Napi::Number::New(info.Env(), -1);
  if (rc == 0) rc = onet_fl_call(&c);
  return Outcome(info.Env(), rc, c);
}

// laneRun(<the call>) → 0 or {status, message, ranks}: completes a published call on the JS thread (wait,
// check, fold); for calls laneArrived found ready.
Napi::Value Run(const Napi::CallbackInfo& info) {
  onet_fl_call_t c = describe(info);
  const int rc = onet_fl_call(&c);
  return Outcome(info.Env(), rc, c);
}

// laneWait(<the call>) → Promise<0 | {status, message, ranks}>: completes a published call on a worker
// thread (the input is this rank's own block: a broadcast root reads it from there).
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(info.Env()), deferred_(Napi::Promise::Deferred::New(info.Env())), c_(describe(info)) {
    seg_ = Napi::Persistent(info[0].As<Napi::Object>());
    if (info[11].IsObject()) out_ = Napi::Persistent(info[11].As<Napi::Object>());
    if (info[9].IsObject()) in_ = Napi::Persistent(info[9].As<Napi::Object>());  // a direct call's peers read it
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { rc_ = onet_fl_call(&c_); }
  void OnOK() override { deferred_.Resolve(Outcome(Env(), rc_, c_)); }

 private:
  Napi::Promise::Deferred deferred_;
  onet_fl_call_t c_;
  int rc_ = 0;
  Napi::ObjectReference seg_, out_, in_;  // keep the mapping, output and input alive while the worker runs
};

Napi::Value Wait(const Napi::CallbackInfo& info) {
  auto* w = new WaitWorker(info);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// laneAbort(seg, globalRank): mark the communicator aborted and wake every sleeper.
Napi::Value Abort(const Napi::CallbackInfo& info) {
  onet_fl_abort(info[0].As<Napi::ArrayBuffer>().Data(), info[1].ToNumber().Int32Value());
  return info.Env().Undefined();
}

// laneDirectOk() → whether direct calls can work in this process (onet_fl_direct_ok; sets PR_SET_PTRACER_ANY
// under Yama ptrace_scope 1 so that the sibling ranks may read this one).
Napi::Value DirectOk(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), onet_fl_direct_ok() == 1);
}

// laneHead(seg) → {magic, version, size, cap, aborted}: what a rank checks after mapping a segment.
Napi::Value HeadOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto* h = static_cast<const fl::Head*>(info[0].As<Napi::ArrayBuffer>().Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("magic", __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE));
  o.Set("version", h->version);
  o.Set("size", h->size);
  o.Set("cap", double(h->cap));
  o.Set("aborted", __atomic_load_n(&h->aborted, __ATOMIC_ACQUIRE));
  return o;
}

// laneCoordinator(ctl) → 0, or {status, message, ranks} when the coordinator shut down or died: what a
// lane call checks now and then (the lane itself does not need the coordinator, but the job is over).
Napi::Value Coordinator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto* ctl = static_cast<const onet::shm::CtlHead*>(info[0].As<Napi::ArrayBuffer>().Data());
  onet_fl_call_t c;
  c.nranks = 0;
  int rc = 0;
  const pid_t pid = pid_t(ctl->coord_pid);
  if (ctl->closing.load()) {
    rc = int(Code::kClosed);
    std::snprintf(c.msg, sizeof c.msg, "the coordinator (pid %d) shut down; restart the job", int(pid));
  } else if (pid > 0 && !onet::proc_alive(onet::proc_identify(pid))) {
    rc = int(Code::kAborted);
    std::snprintf(c.msg, sizeof c.msg, "coordinator pid %d died; see its log in the job directory and restart the job",
                  int(pid));
  }
  return Outcome(env, rc, c);
}

}  // namespace

void InitLane(Napi::Env env, Napi::Object exports) {
  exports.Set("laneVersion", Napi::Number::New(env, fl::kVersion));
  exports.Set("laneMagic", Napi::Number::New(env, fl::kMagic));
  exports.Set("laneCreate", Napi::Function::New(env, Create));
  exports.Set("laneOpen", Napi::Function::New(env, Open));
  exports.Set("laneJoin", Napi::Function::New(env, Join));
  exports.Set("lanePublish", Napi::Function::New(env, Publish));
  exports.Set("laneArrived", Napi::Function::New(env, Arrived));
  exports.Set("laneTry", Napi::Function::New(env, Try));
  exports.Set("laneSpinUs", Napi::Function::New(env, SpinUs));
  exports.Set("laneCoordinator", Napi::Function::New(env, Coordinator));
  exports.Set("laneRun", Napi::Function::New(env, Run));
  exports.Set("laneWait", Napi::Function::New(env, Wait));
  exports.Set("laneAbort", Napi::Function::New(env, Abort));
  exports.Set("laneHead", Napi::Function::New(env, HeadOf));
  exports.Set("laneDirectOk", Napi::Function::New(env, DirectOk));
}
