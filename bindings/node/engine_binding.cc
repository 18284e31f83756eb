// Engine as a JS class. Every event from the engine's progress thread reaches JS through the
// single ThreadSafeFunction owned here (STYLE rule 12).
#include <napi.h>

#include <memory>

#include "engine/engine.h"
#include "net_binding.h"
#include "status_error.h"

namespace {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Engine",
        {InstanceMethod("addRank", &EngineWrap::AddRank), InstanceMethod("unlinkArena", &EngineWrap::UnlinkArena),
         InstanceMethod("setGroup", &EngineWrap::SetGroup), InstanceMethod("failRank", &EngineWrap::FailRank),
         InstanceMethod("kick", &EngineWrap::Kick), InstanceMethod("ctlName", &EngineWrap::CtlName),
         InstanceMethod("snapshot", &EngineWrap::Snapshot), InstanceMethod("close", &EngineWrap::Close),
         InstanceMethod("stats", &EngineWrap::Stats), InstanceMethod("drainTrace", &EngineWrap::DrainTrace),
         InstanceMethod("netListen", &EngineWrap::NetListen), InstanceMethod("netConnect", &EngineWrap::NetConnect),
         InstanceMethod("setAlgoRules", &EngineWrap::SetAlgoRules), InstanceMethod("links", &EngineWrap::Links),
         InstanceMethod("setCompression", &EngineWrap::SetCompression),
         InstanceMethod("compression", &EngineWrap::Compression)});
  }

  EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      onet_node::ThrowStatus(
          env, {onet::Code::kInvalid, "new Engine(config, onEvent): pass a config object and a function"});
      return;
    }
    Napi::Object c = info[0].As<Napi::Object>();
    onet::EngineConfig cfg;
    auto num = [&](const char* k, double def) { return c.Has(k) ? c.Get(k).ToNumber().DoubleValue() : def; };
    cfg.job = c.Get("job").ToString().Utf8Value();
    cfg.world = int(num("world", 0));
    cfg.threads = int(num("threads", 2));
    cfg.chunk_bytes = size_t(num("chunkBytes", 256 << 10));
    cfg.parallel_bytes = size_t(num("parallelBytes", 1 << 20));
    cfg.spin_us = int64_t(num("spinUs", 50));
    cfg.timeout_ms = int64_t(num("timeoutMs", 300000));
    cfg.arena_bytes = size_t(num("arenaBytes", double(256u << 20)));
    cfg.fusion_bytes = uint64_t(num("fusionBytes", double(cfg.fusion_bytes)));
    auto flag = [&](const char* k) { return c.Has(k) && c.Get(k).ToBoolean().Value(); };
    cfg.stats.enabled = flag("stats");
    cfg.stats.trace = flag("trace");
    cfg.stats.straggler_window = int(num("stragglerWindow", cfg.stats.straggler_window));
    cfg.stats.straggler_gap_ns = int64_t(num("stragglerGapUs", cfg.stats.straggler_gap_ns / 1000.0) * 1000);
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "onet-engine-events", 0, 1);
    tsfn_.Unref(env);  // the coordinator's sockets keep the process alive, not the engine
    auto tsfn = tsfn_;
    onet::Status st = onet::Engine::create(
        cfg,
        [tsfn](const onet::Event& e) mutable {
          auto* copy = new onet::Event(e);
          napi_status s = tsfn.NonBlockingCall(copy, [](Napi::Env env, Napi::Function fn, onet::Event* ev) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("kind", ev->kind);
            o.Set("rank", ev->rank);
            o.Set("slot", ev->slot);
            o.Set("status", ev->status);
            o.Set("message", ev->message);
            o.Set("code", onet::code_name(onet::Code(ev->status)));
            o.Set("ranks", onet_node::RanksArray(env, ev->ranks));
            o.Set("seq", double(ev->seq));
            delete ev;
            fn.Call({o});
          });
          if (s != napi_ok) delete copy;
        },
        &engine_);
    if (!st.ok()) {
      tsfn_.Release();
      onet_node::ThrowStatus(env, st);
    }
  }

  ~EngineWrap() { Shutdown(); }

 private:
  void Shutdown() {
    if (engine_) {
      engine_->close();
      engine_.reset();
      tsfn_.Release();
    }
  }
  bool Alive(Napi::Env env) {
    if (engine_) return true;
    onet_node::ThrowStatus(env, {onet::Code::kClosed, "the engine is closed (the coordinator is shutting down)"});
    return false;
  }
  Napi::Value AddRank(const Napi::CallbackInfo& info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    std::string name;
    uint32_t pid = info.Length() > 2 && info[2].IsNumber() ? info[2].ToNumber().Uint32Value() : 0;
    onet::Status st = engine_->add_rank(info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value(), &name, pid);
    if (!st.ok()) { return onet_node::ThrowStatus(info.Env(), st); }
    return Napi::String::New(info.Env(), name);
  }
  Napi::Value UnlinkArena(const Napi::CallbackInfo& info) {
    if (Alive(info.Env())) engine_->unlink_arena(info[0].ToNumber().Int32Value());
    return info.Env().Undefined();
  }
  Napi::Value SetGroup(const Napi::CallbackInfo& info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    Napi::Array a = info[1].As<Napi::Array>();
    std::vector<int> ranks;
    for (uint32_t i = 0; i < a.Length(); i++) ranks.push_back(a.Get(i).ToNumber().Int32Value());
    onet::Status st = engine_->set_group(info[0].ToNumber().Uint32Value(), ranks);
    if (!st.ok()) onet_node::ThrowStatus(info.Env(), st);
    return info.Env().Undefined();
  }
  Napi::Value FailRank(const Napi::CallbackInfo& info) {
    if (Alive(info.Env()))
      engine_->fail_rank(info[0].ToNumber().Int32Value(), onet::Code(info[1].ToNumber().Int32Value()),
                         info[2].ToString().Utf8Value());
    return info.Env().Undefined();
  }
  Napi::Value Kick(const Napi::CallbackInfo& info) {
    if (engine_) engine_->kick();
    return info.Env().Undefined();
  }
  Napi::Value CtlName(const Napi::CallbackInfo& info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), engine_->ctl_name());
  }
  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), engine_->snapshot_json());
  }
  Napi::Value NetListen(const Napi::CallbackInfo& info) { return onet_node::NetListen(info, engine_.get()); }
  Napi::Value NetConnect(const Napi::CallbackInfo& info) { return onet_node::NetConnect(info, engine_.get()); }
  Napi::Value SetAlgoRules(const Napi::CallbackInfo& info) { return onet_node::SetAlgoRules(info, engine_.get()); }
  Napi::Value Links(const Napi::CallbackInfo& info) { return onet_node::Links(info, engine_.get()); }
  Napi::Value SetCompression(const Napi::CallbackInfo& info) { return onet_node::SetCompression(info, engine_.get()); }
  Napi::Value Compression(const Napi::CallbackInfo& info) { return onet_node::Compression(info, engine_.get()); }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), engine_->stats().json());
  }
  Napi::Value DrainTrace(const Napi::CallbackInfo& info) {
    if (!Alive(info.Env())) return info.Env().Undefined();
    onet::TraceBatch b = engine_->stats().drain_trace();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("events", b.events);
    o.Set("count", double(b.count));
    o.Set("dropped", double(b.dropped));
    Napi::Array ranks = Napi::Array::New(info.Env(), b.ranks.size());
    for (size_t i = 0; i < b.ranks.size(); i++) ranks.Set(uint32_t(i), b.ranks[i]);
    o.Set("ranks", ranks);
    return o;
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<onet::Engine> engine_;
  Napi::ThreadSafeFunction tsfn_;
};

Napi::Value CleanStale(const Napi::CallbackInfo& info) {
  std::string job = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  return Napi::Number::New(info.Env(), onet::shm::clean_stale(job));
}

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::Define(env));
  exports.Set("cleanStale", Napi::Function::New(env, CleanStale));
}
