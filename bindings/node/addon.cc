// The addon's module entry: each *_binding.cc adds its part of the surface declared in
// src/native/addon.ts (the only TypeScript file that loads this addon).
#include <napi.h>

void InitEngine(Napi::Env env, Napi::Object exports);
void InitRank(Napi::Env env, Napi::Object exports);
void InitReduce(Napi::Env env, Napi::Object exports);
void InitBench(Napi::Env env, Napi::Object exports);
void InitLane(Napi::Env env, Napi::Object exports);

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitEngine(env, exports);
  InitRank(env, exports);
  InitReduce(env, exports);
  InitBench(env, exports);
  InitLane(env, exports);
  return exports;
}

NODE_API_MODULE(onet, Init)
