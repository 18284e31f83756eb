#include "net_binding.h"

#include "status_error.h"

#include <string>
#include <vector>

namespace onet_node {

namespace {

Napi::Value fail(Napi::Env env, const onet::Status& st) { return ThrowStatus(env, st); }

class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, onet::Engine* e, int me, std::vector<std::string> addrs, std::vector<int> hosts,
                int64_t timeout_ms)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        e_(e),
        me_(me),
        addrs_(std::move(addrs)),
        hosts_(std::move(hosts)),
        timeout_ms_(timeout_ms) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { st_ = e_->net_connect(me_, addrs_, hosts_, timeout_ms_); }
  void OnOK() override {
    if (st_.ok()) deferred_.Resolve(Env().Undefined());
    else deferred_.Reject(StatusError(Env(), st_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  onet::Engine* e_;
  int me_;
  std::vector<std::string> addrs_;
  std::vector<int> hosts_;
  int64_t timeout_ms_;
  onet::Status st_;
};

}  // namespace

Napi::Value NetListen(const Napi::CallbackInfo& info, onet::Engine* e) {
  Napi::Env env = info.Env();
  if (!e) return fail(env, {onet::Code::kClosed, "engine is closed"});
  if (info.Length() < 1 || !info[0].IsObject()) return fail(env, {onet::Code::kInvalid, "netListen(options)"});
  Napi::Object o = info[0].As<Napi::Object>();
  // Every key goes straight to the transport's one options table (transport/common/options.cc),
  // which names a key it does not know; undefined means "the default".
  onet::NetOptions n;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string key = keys.Get(i).ToString().Utf8Value();
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) continue;
    onet::Status st = n.set(key, v.ToString().Utf8Value());
    if (!st.ok()) return fail(env, st);
  }
  std::string addr;
  onet::Status st = e->net_listen(n, &addr);
  if (!st.ok()) return fail(env, st);
  return Napi::String::New(env, addr);
}

Napi::Value NetConnect(const Napi::CallbackInfo& info, onet::Engine* e) {
  Napi::Env env = info.Env();
  if (!e) return fail(env, {onet::Code::kClosed, "engine is closed"});
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsArray())
    return fail(env, {onet::Code::kInvalid, "netConnect(me, addrs, hostOfRank, timeoutMs)"});
  std::vector<std::string> addrs;
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) addrs.push_back(a.Get(i).ToString().Utf8Value());
  std::vector<int> hosts;
  Napi::Array h = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < h.Length(); i++) hosts.push_back(h.Get(i).ToNumber().Int32Value());
  auto* w = new ConnectWorker(env, e, info[0].ToNumber().Int32Value(), std::move(addrs), std::move(hosts),
                              int64_t(info[3].ToNumber().DoubleValue()));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value SetAlgoRules(const Napi::CallbackInfo& info, onet::Engine* e) {
  Napi::Env env = info.Env();
  if (!e) return fail(env, {onet::Code::kClosed, "engine is closed"});
  if (info.Length() < 1 || !info[0].IsArray()) return fail(env, {onet::Code::kInvalid, "setAlgoRules(rules[])"});
  std::vector<onet::AlgoRule> rules;
  Napi::Array a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object r = a.Get(i).As<Napi::Object>();
    std::string coll = r.Get("coll").ToString().Utf8Value();
    onet::Coll c;
    if (coll == "allreduce") c = onet::Coll::allreduce;
    else if (coll == "allgather") c = onet::Coll::allgather;
    else if (coll == "broadcast") c = onet::Coll::broadcast;
    else if (coll == "reduce_scatter") c = onet::Coll::reduce_scatter;
    else if (coll == "reduce") c = onet::Coll::reduce;
    else if (coll == "alltoall") c = onet::Coll::alltoall;
    else if (coll == "barrier") c = onet::Coll::barrier;
    else return fail(env, {onet::Code::kInvalid, "algorithm rule names unknown collective '" + coll + "'"});
    double mb = r.Get("maxBytes").ToNumber().DoubleValue();
    uint64_t max_bytes = mb >= 1.8e19 || !(mb == mb) ? UINT64_MAX : uint64_t(mb);
    rules.push_back({c, max_bytes, r.Get("algo").ToString().Utf8Value(),
                     r.Has("chunkBytes") ? uint64_t(r.Get("chunkBytes").ToNumber().DoubleValue()) : 0});
  }
  e->set_algo_rules(std::move(rules));
  return env.Undefined();
}

Napi::Value Links(const Napi::CallbackInfo& info, onet::Engine* e) {
  if (!e) return Napi::String::New(info.Env(), "[]");
  return Napi::String::New(info.Env(), e->links_json());
}

Napi::Value SetCompression(const Napi::CallbackInfo& info, onet::Engine* e) {
  Napi::Env env = info.Env();
  if (!e) return fail(env, {onet::Code::kClosed, "engine is closed"});
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString())
    return fail(env, {onet::Code::kInvalid, "setCompression(group, codec)"});
  onet::Status st = e->set_compression(info[0].ToNumber().Uint32Value(), info[1].ToString().Utf8Value());
  if (!st.ok()) return fail(env, st);
  return env.Undefined();
}

Napi::Value Compression(const Napi::CallbackInfo& info, onet::Engine* e) {
  if (!e) return Napi::String::New(info.Env(), "{}");
  return Napi::String::New(info.Env(), e->compression_json());
}

}  // namespace onet_node
