// The one place a native Status becomes a JS Error (STYLE rule 7, "errors mapped once per
// boundary"): message = st.msg as is (no "CODE: " prefix), .code = the protocol name
// ("EMISMATCH"), .ranks = the ranks concerned. src/errors.ts OnetError.fromNative reads those
// two fields and never the message.
#pragma once
#include <napi.h>

#include <vector>

#include "common/status.h"

namespace onet_node {

Napi::Array RanksArray(Napi::Env env, const std::vector<int>& ranks);
Napi::Error StatusError(Napi::Env env, const onet::Status& st);
// Throws StatusError(env, st) and returns undefined, for `return ThrowStatus(env, st);`.
Napi::Value ThrowStatus(Napi::Env env, const onet::Status& st);

}  // namespace onet_node
