// Multi-host methods of the JS Engine class, kept apart from engine_binding.cc:
//   engine.netListen({transport, bindIp, port, ...}) → "ip:port" (keys: transport/common/options.cc)
//   engine.netConnect(me, addrs[], hostOfRank[], timeoutMs) → Promise<void> (runs off the JS thread)
//   engine.setAlgoRules([{coll, maxBytes, algo, chunkBytes}])
//   engine.links() → JSON string of per-peer transport counters
#pragma once
#include <napi.h>

#include "engine/engine.h"

namespace onet_node {

Napi::Value NetListen(const Napi::CallbackInfo& info, onet::Engine* e);
Napi::Value NetConnect(const Napi::CallbackInfo& info, onet::Engine* e);
Napi::Value SetAlgoRules(const Napi::CallbackInfo& info, onet::Engine* e);
Napi::Value Links(const Napi::CallbackInfo& info, onet::Engine* e);
Napi::Value SetCompression(const Napi::CallbackInfo& info, onet::Engine* e);  // group, codec text
Napi::Value Compression(const Napi::CallbackInfo& info, onet::Engine* e);     // JSON: bytes before/after per codec

}  // namespace onet_node
