#include "status_error.h"

namespace onet_node {

Napi::Array RanksArray(Napi::Env env, const std::vector<int>& ranks) {
  Napi::Array a = Napi::Array::New(env, ranks.size());
  for (size_t i = 0; i < ranks.size(); i++) a.Set(uint32_t(i), Napi::Number::New(env, ranks[i]));
  return a;
}

Napi::Error StatusError(Napi::Env env, const onet::Status& st) {
  Napi::Error err = Napi::Error::New(env, st.msg.empty() ? std::string(onet::code_hint(st.code)) : st.msg);
  err.Set("code", Napi::String::New(env, onet::code_name(st.code)));
  err.Set("ranks", RanksArray(env, st.ranks));
  return err;
}

Napi::Value ThrowStatus(Napi::Env env, const onet::Status& st) {
  StatusError(env, st).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace onet_node
