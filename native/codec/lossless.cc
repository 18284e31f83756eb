// Lossless codecs (codec.h): shuffle the bytes of the elements (byte j of every element together:
// float exponents and high mantissa bytes repeat, low mantissa bytes are noise), then libzstd level 1
// or liblz4's default. Built only when CMake found the library (ONET_HAVE_ZSTD / ONET_HAVE_LZ4);
// otherwise the codec reports kUnsupported with the package to install.
#include <cstring>
#include <vector>

#include "codec/lossless.h"

#ifdef ONET_HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef ONET_HAVE_LZ4
#include <lz4.h>
#endif

namespace onet::codec::lossless {
namespace {

void shuffle(const char* in, size_t es, size_t n, char* out) {
  if (es == 1) return (void)std::memcpy(out, in, n);
  for (size_t j = 0; j < es; j++)
    for (size_t i = 0; i < n; i++) out[j * n + i] = in[i * es + j];
}

void unshuffle(const char* in, size_t es, size_t n, char* out) {
  if (es == 1) return (void)std::memcpy(out, in, n);
  for (size_t j = 0; j < es; j++)
    for (size_t i = 0; i < n; i++) out[i * es + j] = in[j * n + i];
}

Status missing(Kind k) {
  std::string why;
  have(k, &why);
  return {Code::kUnsupported, why};
}

thread_local std::vector<char> tl_tmp;  // the shuffled bytes, reused per thread

}  // namespace

bool have(Kind k, std::string* why) {
#ifdef ONET_HAVE_ZSTD
  if (k == Kind::zstd) return true;
#endif
#ifdef ONET_HAVE_LZ4
  if (k == Kind::lz4) return true;
#endif
  if (why) {
    const char* lib = k == Kind::zstd ? "libzstd" : "liblz4";
    *why = std::string(k == Kind::zstd ? "zstd" : "lz4") + " compression is not in this build: it was built without " +
           lib + " (apt-get install " + lib + "-dev, then npm run build:native), or choose bf16/fp16/int8/topk/off";
  }
  return false;
}

size_t bound(Kind k, size_t bytes) {
#ifdef ONET_HAVE_ZSTD
  if (k == Kind::zstd) return std::max(bytes, ZSTD_compressBound(bytes));
#endif
#ifdef ONET_HAVE_LZ4
  if (k == Kind::lz4 && bytes <= size_t(LZ4_MAX_INPUT_SIZE))
    return std::max<size_t>(bytes, LZ4_compressBound(int(bytes)));
#endif
  return bytes;
}

Status encode(Kind k, size_t es, const void* src, size_t bytes, char* out, size_t* out_bytes, bool* raw) {
  if (!have(k, nullptr)) return missing(k);
  const size_t n = bytes / es;
  if (tl_tmp.size() < bytes) tl_tmp.resize(bytes);
  shuffle(static_cast<const char*>(src), es, n, tl_tmp.data());
  size_t got = 0;
  bool fits = false;
#ifdef ONET_HAVE_ZSTD
  if (k == Kind::zstd) {
    size_t r = ZSTD_compress(out, bound(k, bytes), tl_tmp.data(), bytes, 1);
    if (!ZSTD_isError(r)) got = r, fits = true;
  }
#endif
#ifdef ONET_HAVE_LZ4
  if (k == Kind::lz4 && bytes <= size_t(LZ4_MAX_INPUT_SIZE)) {
    int r = LZ4_compress_default(tl_tmp.data(), out, int(bytes), int(bound(k, bytes)));
    if (r > 0) got = size_t(r), fits = true;
  }
#endif
  *raw = !fits || got >= bytes;
  if (*raw) {
    std::memcpy(out, tl_tmp.data(), bytes);
    got = bytes;
  }
  *out_bytes = got;
  return Status::Ok();
}

Status decode(Kind k, size_t es, bool raw, const char* in, size_t in_bytes, void* dst, size_t bytes) {
  if (!have(k, nullptr)) return missing(k);
  const size_t n = bytes / es;
  if (tl_tmp.size() < bytes) tl_tmp.resize(bytes);
  bool ok = false;
  if (raw) {
    ok = in_bytes == bytes;
    if (ok) std::memcpy(tl_tmp.data(), in, bytes);
  }
#ifdef ONET_HAVE_ZSTD
  if (!raw && k == Kind::zstd) {
    size_t r = ZSTD_decompress(tl_tmp.data(), bytes, in, in_bytes);
    ok = !ZSTD_isError(r) && r == bytes;
  }
#endif
#ifdef ONET_HAVE_LZ4
  if (!raw && k == Kind::lz4) {
    int r = LZ4_decompress_safe(in, tl_tmp.data(), int(in_bytes), int(bytes));
    ok = r >= 0 && size_t(r) == bytes;
  }
#endif
  if (!ok)
    return {Code::kProto, std::string(k == Kind::zstd ? "zstd" : "lz4") + " frame does not decompress to " +
                              std::to_string(bytes) + " bytes"};
  unshuffle(tl_tmp.data(), es, n, static_cast<char*>(dst));
  return Status::Ok();
}

}  // namespace onet::codec::lossless
