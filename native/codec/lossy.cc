// The lossy codecs of f32 data (codec.h): bf16 and fp16 casts (round to nearest even), int8 with one
// f32 scale per kInt8Block elements, and top-k (indices ascending, then values). Every function here
// works on the payload only; codec.cc adds and checks the frame header.
#include <algorithm>
#include <cmath>
#include <functional>
#include <cstring>
#include <numeric>
#include <vector>

#include "codec/lossy.h"

namespace onet::codec::lossy {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t to_bf16(float f) {
  uint32_t u = bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x40);  // NaN stays a (quiet) NaN
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}

uint16_t to_fp16(float f) {
  uint32_t u = bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return uint16_t(sign | 0x7E00u);   // NaN
  if (a >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds to or past 65520: inf
  if (a < 0x38800000u) {                                  // below 2^-14: subnormal half (or zero)
    // Scale so that one half subnormal unit (2^-24) becomes 1, and let the FPU round to nearest even.
    float v = std::fabs(f) * 16777216.0f;  // < 1024: adding 1.5·2^23 rounds it to an integer, to nearest even
    return uint16_t(sign | uint32_t((v + 12582912.0f) - 12582912.0f));
  }
  uint32_t m = a + 0xC8000FFFu + ((a >> 13) & 1);  // rebias exponent 127 → 15, round to nearest even
  return uint16_t(sign | (m >> 13));
}

float from_fp16(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  if (e == 0) {
    float v = float(m) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (e == 31) return from_bits(sign | 0x7F800000u | (m << 13));
  return from_bits(sign | ((e + 112) << 23) | (m << 13));
}

Status not_finite(const char* codec, size_t i, float v) {
  return {Code::kInvalid, std::string(codec) + " compression needs finite values; element " + std::to_string(i) +
                              " is " + (std::isnan(v) ? "nan" : "inf") +
                              " (use a lossless codec or ONET_COMPRESSION=off for this tensor)"};
}

}  // namespace

size_t payload(Kind k, size_t n, double ratio) {
  switch (k) {
    case Kind::bf16:
    case Kind::fp16: return 2 * n;
    case Kind::int8: return 4 * ((n + kInt8Block - 1) / kInt8Block) + n;
    case Kind::topk: return 8 * topk_k(n, ratio);
    default: return 0;
  }
}

size_t topk_k(size_t n, double ratio) {
  if (n == 0) return 0;
  size_t k = size_t(std::ceil(double(n) * ratio));
  return std::min(n, std::max<size_t>(1, k));
}

Status encode(Kind k, double ratio, const float* x, size_t n, char* out) {
  if (k == Kind::bf16) {
    auto* o = reinterpret_cast<uint16_t*>(out);
    for (size_t i = 0; i < n; i++) o[i] = to_bf16(x[i]);
    return Status::Ok();
  }
  if (k == Kind::fp16) {
    auto* o = reinterpret_cast<uint16_t*>(out);
    for (size_t i = 0; i < n; i++) o[i] = to_fp16(x[i]);
    return Status::Ok();
  }
  if (k == Kind::int8) {
    const size_t nb = (n + kInt8Block - 1) / kInt8Block;
    auto* scales = reinterpret_cast<float*>(out);
    auto* q = reinterpret_cast<int8_t*>(out + 4 * nb);
    for (size_t b = 0; b < nb; b++) {
      const size_t lo = b * kInt8Block, hi = std::min(n, lo + kInt8Block);
      float m = 0;
      bool bad = false;
      for (size_t i = lo; i < hi; i++) {
        const float a = std::fabs(x[i]);
        bad |= !(a <= 3.4028235e38f);  // nan or inf
        m = a > m ? a : m;
      }
      if (bad)
        for (size_t i = lo; i < hi; i++)
          if (!std::isfinite(x[i])) return not_finite("int8", i, x[i]);
      const float scale = m / 127.0f, inv = m > 0 ? 127.0f / m : 0.0f;
      std::memcpy(scales + b, &scale, 4);
      for (size_t i = lo; i < hi; i++) {
        // |x·inv| <= 127 (plus rounding): adding 1.5·2^23 rounds to nearest even without a libm call.
        float v = (x[i] * inv + 12582912.0f) - 12582912.0f;
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[i] = int8_t(int(v));
      }
    }
    return Status::Ok();
  }
  if (k == Kind::topk) {
    const size_t kk = topk_k(n, ratio);
    for (size_t i = 0; i < n; i++)
      if (!std::isfinite(x[i])) return not_finite("topk", i, x[i]);
    // The k-th largest |x| is the threshold; every |x| above it is kept, then those equal to it in index
    // order until k: the kept set is a function of the data alone, and the indices come out ascending.
    std::vector<float> mag(n);
    for (size_t i = 0; i < n; i++) mag[i] = std::fabs(x[i]);
    float thr = 0;
    if (kk < n) {
      std::nth_element(mag.begin(), mag.begin() + (kk - 1), mag.end(), std::greater<float>());
      thr = mag[kk - 1];
    }
    size_t above = 0;
    if (kk < n)
      for (size_t i = 0; i < n; i++) above += std::fabs(x[i]) > thr;
    size_t ties = kk - above, j = 0;
    auto* ov = reinterpret_cast<float*>(out + 4 * kk);
    for (size_t i = 0; i < n && j < kk; i++) {
      const float a = std::fabs(x[i]);
      if (kk < n && !(a > thr || (a == thr && ties > 0 && ties--))) continue;
      const uint32_t u = uint32_t(i);
      std::memcpy(out + 4 * j, &u, 4);
      std::memcpy(ov + j, x + i, 4);
      j++;
    }
    return Status::Ok();
  }
  return {Code::kInternal, "lossy::encode called for a lossless codec"};
}

Status decode(Kind k, size_t kk, const char* in, size_t n, float* x) {
  if (k == Kind::bf16) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      std::memcpy(&h, in + 2 * i, 2);
      x[i] = from_bits(uint32_t(h) << 16);
    }
    return Status::Ok();
  }
  if (k == Kind::fp16) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      std::memcpy(&h, in + 2 * i, 2);
      x[i] = from_fp16(h);
    }
    return Status::Ok();
  }
  if (k == Kind::int8) {
    const size_t nb = (n + kInt8Block - 1) / kInt8Block;
    const auto* q = reinterpret_cast<const int8_t*>(in + 4 * nb);
    for (size_t b = 0; b < nb; b++) {
      float scale;
      std::memcpy(&scale, in + 4 * b, 4);
      const size_t lo = b * kInt8Block, hi = std::min(n, lo + kInt8Block);
      for (size_t i = lo; i < hi; i++) x[i] = float(q[i]) * scale;
    }
    return Status::Ok();
  }
  if (k == Kind::topk) {
    std::memset(x, 0, n * 4);
    uint32_t prev = 0;
    for (size_t i = 0; i < kk; i++) {
      uint32_t j;
      std::memcpy(&j, in + 4 * i, 4);
      if (j >= n || (i && j <= prev))
        return {Code::kProto, "top-k frame lists index " + std::to_string(j) + " out of order or past " +
                                  std::to_string(n) + " elements"};
      std::memcpy(x + j, in + 4 * kk + 4 * i, 4);
      prev = j;
    }
    return Status::Ok();
  }
  return {Code::kInternal, "lossy::decode called for a lossless codec"};
}

}  // namespace onet::codec::lossy
