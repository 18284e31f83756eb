// Rank-side hot path for Node ranks (src/api): map the arena and ctl segments, post a slot,
// spin briefly on the JS thread, then wait on a worker thread (never blocking JS for long).
#include <napi.h>
#include <signal.h>
#include <sys/mman.h>

#include <cerrno>
#include <memory>

#include "common/proc_alive.h"
#include "shm/futex.h"
#include "shm/layout.h"
#include "shm/spin_policy.h"
#include "shm/segment.h"
#include "status_error.h"

namespace {

using onet::shm::Slot;

Napi::Value MapSegment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* seg = new onet::shm::Segment();
  onet::Status st = onet::shm::Segment::open(info[0].ToString().Utf8Value(), seg);
  if (!st.ok()) {
    delete seg;
    return onet_node::ThrowStatus(env, st);
  }
  return Napi::ArrayBuffer::New(
      env, seg->base(), seg->size(), [](Napi::Env, void*, onet::shm::Segment* s) { delete s; }, seg);
}

char* base_of(const Napi::Value& v) { return static_cast<char*>(v.As<Napi::ArrayBuffer>().Data()); }

// post(arena, ctl, slot): the fields are already written through a DataView.
Napi::Value Post(const Napi::CallbackInfo& info) {
  char* arena = base_of(info[0]);
  auto* ctl = reinterpret_cast<onet::shm::CtlHead*>(base_of(info[1]));
  Slot* s = onet::shm::slot_at(arena, info[2].ToNumber().Uint32Value());
  auto* line = onet::shm::rank_line(arena);
  // The post number (offset 96) lets the coordinator keep a burst of posts in order even when it
  // scans the slots while they are being posted (Engine::poll); only this rank writes post_count.
  s->post_no = line->post_count.load(std::memory_order_relaxed) + 1;
  s->state.store(onet::shm::kPosted, std::memory_order_release);
  line->post_count.fetch_add(1, std::memory_order_release);
  ctl->bell.fetch_add(1);  // locked RMW: ordered before reading coord_sleeping
  if (ctl->coord_sleeping.load()) onet::shm::futex_wake(&ctl->bell, 1);
  return info.Env().Undefined();
}

// spin(arena, slot, spinUs) → state after at most spinUs of polling: busy while the host has a
// spare core, yielding with one task too many, none when more are runnable (shm/spin_policy.h's
// modes; the budget stays spinUs here: the wait that follows a miss runs on a worker thread).
Napi::Value Spin(const Napi::CallbackInfo& info) {
  Slot* s = onet::shm::slot_at(base_of(info[0]), info[1].ToNumber().Uint32Value());
  thread_local onet::shm::LoadSampler load;
  const auto plan = onet::shm::spin_plan(info[2].ToNumber().Int64Value(), load.sample(onet::shm::now_ns()), load.cores);
  onet::shm::Spinner sp(plan.spin_us);
  uint32_t st;
  while ((st = s->state.load(std::memory_order_acquire)) == onet::shm::kPosted && sp.keep_spinning()) {
    if (plan.mode == onet::shm::SpinMode::yield) sched_yield();
    else __builtin_ia32_pause();
  }
  return Napi::Number::New(info.Env(), st);
}

class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, Napi::Reference<Napi::ArrayBuffer> arena, char* abase, onet::shm::CtlHead* ctl,
             uint32_t idx, int64_t timeout_ms)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        arena_(std::move(arena)),
        abase_(abase),
        ctl_(ctl),
        idx_(idx),
        timeout_ms_(timeout_ms) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    Slot* s = onet::shm::slot_at(abase_, idx_);
    auto* cl = onet::shm::coord_line(abase_);
    int64_t deadline = onet::shm::now_ns() + timeout_ms_ * 1'000'000;
    onet::ProcId coord;  // the coordinator as first seen: a zombie or a reused pid is not it
    while ((state_ = s->state.load(std::memory_order_acquire)) == onet::shm::kPosted) {
      uint32_t v = cl->done_futex.load();
      // A count of sleeping threads, not a flag: with several collectives in flight, several
      // workers wait at once, and one waking up must not hide the others from the coordinator
      // (it wakes only while rank_waiting != 0; a lost wake-up cost a 100 ms stall).
      cl->rank_waiting.fetch_add(1);
      if ((state_ = s->state.load(std::memory_order_acquire)) != onet::shm::kPosted) {
        cl->rank_waiting.fetch_sub(1);
        break;
      }
      onet::shm::futex_wait(&cl->done_futex, v, 100'000);
      cl->rank_waiting.fetch_sub(1);
      if (ctl_->closing.load()) {
        why_ = {onet::Code::kClosed, "the coordinator shut down"};
        return;
      }
      pid_t pid = pid_t(ctl_->coord_pid);
      if (coord.pid != pid) coord = onet::proc_identify(pid);  // first look: the identity to keep
      if (!onet::proc_alive(coord)) {
        why_ = {onet::Code::kAborted, "coordinator pid " + std::to_string(pid) + " died"};
        return;
      }
      if (onet::shm::now_ns() > deadline) {
        why_ = {onet::Code::kTimeout, "no completion within " + std::to_string(timeout_ms_ / 1000) + " s"};
        return;
      }
    }
  }
  void OnOK() override {
    if (!why_.ok()) deferred_.Reject(onet_node::StatusError(Env(), why_).Value());
    else deferred_.Resolve(Napi::Number::New(Env(), state_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::ArrayBuffer> arena_;  // keeps the mapping alive while we wait
  char* abase_;
  onet::shm::CtlHead* ctl_;
  uint32_t idx_;
  int64_t timeout_ms_;
  uint32_t state_ = 0;
  onet::Status why_;
};

// wait(arena, ctl, slot, timeoutMs) → Promise<state>
Napi::Value Wait(const Napi::CallbackInfo& info) {
  auto ab = info[0].As<Napi::ArrayBuffer>();
  auto* w = new WaitWorker(info.Env(), Napi::Persistent(ab), base_of(info[0]),
                           reinterpret_cast<onet::shm::CtlHead*>(base_of(info[1])), info[2].ToNumber().Uint32Value(),
                           info[3].ToNumber().Int64Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace

void InitRank(Napi::Env env, Napi::Object exports) {
  exports.Set("mapSegment", Napi::Function::New(env, MapSegment));
  exports.Set("post", Napi::Function::New(env, Post));
  exports.Set("spin", Napi::Function::New(env, Spin));
  exports.Set("wait", Napi::Function::New(env, Wait));
}
