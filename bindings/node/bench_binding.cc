// memcpyBench(bytes, threads, iters) → bytes copied per second, each thread copying its own
// `bytes` buffer: the machine's limit line printed by `onet bench`.
#include <napi.h>

#include <cstring>
#include <thread>
#include <vector>

#include "shm/futex.h"

namespace {

Napi::Value MemcpyBench(const Napi::CallbackInfo& info) {
  size_t bytes = size_t(info[0].ToNumber().Int64Value());
  int threads = info[1].ToNumber().Int32Value(), iters = info[2].ToNumber().Int32Value();
  std::vector<std::vector<char>> src(threads, std::vector<char>(bytes, 1)), dst(threads, std::vector<char>(bytes, 0));
  auto copy_all = [&](int it) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
      ts.emplace_back([&, t] {
        for (int i = 0; i < it; i++) memcpy(dst[t].data(), src[t].data(), bytes);
      });
    for (auto& t : ts) t.join();
  };
  copy_all(1);  // fault the pages in
  int64_t t0 = onet::shm::now_ns();
  copy_all(iters);
  double secs = double(onet::shm::now_ns() - t0) / 1e9;
  return Napi::Number::New(info.Env(), double(bytes) * threads * iters / secs);
}

}  // namespace

void InitBench(Napi::Env env, Napi::Object exports) {
  exports.Set("memcpyBench", Napi::Function::New(env, MemcpyBench));
}
