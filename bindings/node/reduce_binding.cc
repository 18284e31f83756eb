// exports.reduce(op, dtype, out, inputs, scale, divisor) and exports.simdIsa(): the CPU reduce
// kernels on typed arrays' bytes, for tests and benchmarks. Runs on the calling thread; it is
// only meant for small, synchronous uses (the engine calls onet::reduce directly).
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"
#include "reduce/reduce.h"
#include "status_error.h"

namespace {

struct Bytes {
  uint8_t* data = nullptr;
  size_t len = 0;
};

// napi_get_typedarray_info's data already includes byteOffset, and works for typed arrays on
// SharedArrayBuffers too.
bool typed_bytes(Napi::Env env, Napi::Value v, Bytes* out) {
  if (!v.IsTypedArray()) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  out->data = static_cast<uint8_t*>(data);
  out->len = length * v.As<Napi::TypedArray>().ElementSize();
  return true;
}

Napi::Value Throw(Napi::Env env, onet::Code code, const std::string& msg) {
  return onet_node::ThrowStatus(env, {code, msg});
}

bool overlaps(const Bytes& a, const Bytes& b) {
  return a.len > 0 && b.len > 0 && a.data < b.data + b.len && b.data < a.data + a.len;
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto bad = [&](const std::string& m) { return Throw(env, onet::Code::kInvalid, "reduce: " + m); };
  if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsNumber() || !info[3].IsArray() || !info[4].IsNumber() ||
      !info[5].IsNumber())
    return bad(
        "expected (op: number, dtype: number, out: TypedArray, inputs: TypedArray[], "
        "scale: number, divisor: number)");
  const uint32_t op = info[0].As<Napi::Number>().Uint32Value();
  const uint32_t dt = info[1].As<Napi::Number>().Uint32Value();
  if (!onet::dtype_valid(dt)) return bad("unknown dtype " + std::to_string(dt));
  const size_t esize = onet::dtype_size(static_cast<onet::DType>(dt));

  Bytes out;
  if (!typed_bytes(env, info[2], &out)) return bad("out must be a TypedArray");
  if (out.len % esize != 0)
    return bad("out has " + std::to_string(out.len) + " bytes, not a multiple of the " + std::to_string(esize) +
               "-byte dtype");
  Napi::Array arr = info[3].As<Napi::Array>();
  const uint32_t k = arr.Length();
  if (k == 0) return bad("inputs is empty; pass at least one TypedArray");
  std::vector<const void*> ptrs(k);
  for (uint32_t j = 0; j < k; ++j) {
    Bytes in;
    if (!typed_bytes(env, arr.Get(j), &in)) return bad("inputs[" + std::to_string(j) + "] is not a TypedArray");
    if (in.len != out.len)
      return bad("inputs[" + std::to_string(j) + "] has " + std::to_string(in.len) + " bytes but out has " +
                 std::to_string(out.len));
    // Only exact in-place on inputs[0] is allowed; any other overlap would read results.
    if (overlaps(in, out) && !(j == 0 && in.data == out.data))
      return bad("out overlaps inputs[" + std::to_string(j) + "]; only out === inputs[0] may alias");
    ptrs[j] = in.data;
  }
  const double scale = info[4].As<Napi::Number>().DoubleValue();
  const int divisor = info[5].As<Napi::Number>().Int32Value();
  onet::Status st = onet::reduce::reduce(static_cast<onet::RedOp>(op), static_cast<onet::DType>(dt), out.data,
                                         ptrs.data(), static_cast<int>(k), out.len / esize, scale, divisor);
  if (!st.ok()) return Throw(env, st.code, st.msg);
  return env.Undefined();
}

Napi::Value SimdIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), onet::reduce::isa()); }

}  // namespace

void InitReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("simdIsa", Napi::Function::New(env, SimdIsa, "simdIsa"));
}
