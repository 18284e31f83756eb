// Codec names, the frame header and its checks (codec.h). The payload coders are lossy.cc and
// lossless.cc.
//   header (32 bytes, little-endian): u32 magic "ONCZ" | u8 codec | u8 dtype | u8 flags (1: stored raw) | u8 0 |
//   u64 elements | u64 payload bytes | u32 aux (top-k: kept count) | u32 CRC32C of header[0, 28) ‖ payload
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "codec/lossless.h"
#include "codec/lossy.h"

namespace onet::codec {
namespace {

constexpr uint32_t kMagic = 0x5A434E4Fu;  // "ONCZ"

struct Header {
  uint32_t magic;
  uint8_t kind, dtype, flags, zero;
  uint64_t count, payload;
  uint32_t aux, crc;
};
static_assert(sizeof(Header) == kHeaderBytes);

const char* const kNames[] = {"off", "bf16", "fp16", "int8", "topk", "zstd", "lz4"};

bool is_lossy(Kind k) { return k == Kind::bf16 || k == Kind::fp16 || k == Kind::int8 || k == Kind::topk; }

uint32_t frame_crc(const Header& h, const char* payload) {
  return crc32c(crc32c(0, &h, offsetof(Header, crc)), payload, h.payload);
}

Status bad_frame(const std::string& why) {
  return {Code::kProto, "corrupt compressed frame (" + why +
                            "); it was not decoded — check the link (ONET_CHECKSUM=1 guards the transport too)"};
}

}  // namespace

Status parse(const std::string& text, Spec* out) {
  Spec s;
  std::string t = text;
  for (char& ch : t) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (t.empty() || t == "off" || t == "0" || t == "none") {
    *out = s;
    return Status::Ok();
  }
  if (t.rfind("topk", 0) == 0) {
    s.kind = Kind::topk;
    if (t.size() > 4) {
      std::string r = t.substr(t[4] == ':' ? 5 : 4);
      bool pct = !r.empty() && r.back() == '%';
      if (pct) r.pop_back();
      char* end = nullptr;
      double v = std::strtod(r.c_str(), &end);
      if (pct) v /= 100;
      if (r.empty() || *end || !(v > 0 && v <= 1))
        return {Code::kInvalid,
                "compression \"" + text + "\": top-k's ratio must be in (0, 1], e.g. topk:0.01 or topk:1%"};
      s.ratio = v;
    }
    *out = s;
    return Status::Ok();
  }
  for (int k = 1; k < int(sizeof kNames / sizeof *kNames); k++)
    if (t == kNames[k]) {
      s.kind = Kind(k);
      *out = s;
      return Status::Ok();
    }
  return {Code::kInvalid,
          "unknown compression \"" + text + "\"; valid: auto, off, bf16, fp16, int8, topk:R (0 < R <= 1), zstd, lz4"};
}

std::string name(const Spec& s) {
  if (s.kind != Kind::topk) return kNames[int(s.kind)];
  char buf[48];
  std::snprintf(buf, sizeof buf, "topk:%g", s.ratio);
  return buf;
}

bool is_lossless(Kind k) { return k == Kind::zstd || k == Kind::lz4 || k == Kind::off; }

bool available(Kind k, std::string* why) {
  if (k == Kind::zstd || k == Kind::lz4) return lossless::have(k, why);
  return true;
}

bool applies(const Spec& s, DType dt, RedOp op) {
  if (!s.on()) return false;
  if (is_lossless(s.kind)) return dtype_size(dt) > 0;
  return dt == DType::f32 && (op == RedOp::sum || op == RedOp::avg || op == RedOp::premul_sum);
}

uint32_t fingerprint(const Spec& s) {
  if (!s.on()) return 0;
  uint32_t r = s.kind == Kind::topk ? uint32_t(std::lround(s.ratio * 1e6)) : 0;
  return (uint32_t(s.kind) << 24) | (r & 0xFFFFFF);
}

Spec from_fingerprint(uint32_t f) {
  Spec s;
  const uint32_t k = f >> 24;
  if (k == 0 || k > uint32_t(Kind::lz4)) return s;
  s.kind = Kind(k);
  if (s.kind == Kind::topk) s.ratio = double(f & 0xFFFFFF) / 1e6;
  return s;
}

size_t max_frame_bytes(const Spec& s, DType dt, size_t n) {
  if (is_lossy(s.kind)) return kHeaderBytes + lossy::payload(s.kind, n, s.ratio);
  return kHeaderBytes + lossless::bound(s.kind, n * dtype_size(dt));
}

Status encode(const Spec& s, DType dt, const void* src, size_t n, char* frame, size_t* frame_bytes) {
  if (!s.on()) return {Code::kInternal, "codec::encode with compression off"};
  if (is_lossy(s.kind) && dt != DType::f32)
    return {Code::kInvalid, name(s) + " compression applies to f32 only, not " + std::string(dtype_name(dt)) +
                                "; use zstd/lz4 (lossless) or off for this tensor"};
  Header h{kMagic, uint8_t(s.kind), uint8_t(dt), 0, 0, n, 0, 0, 0};
  char* payload = frame + kHeaderBytes;
  if (is_lossy(s.kind)) {
    Status st = lossy::encode(s.kind, s.ratio, static_cast<const float*>(src), n, payload);
    if (!st.ok()) return st;
    h.payload = lossy::payload(s.kind, n, s.ratio);
    if (s.kind == Kind::topk) h.aux = uint32_t(lossy::topk_k(n, s.ratio));
  } else {
    size_t got = 0;
    bool raw = false;
    Status st = lossless::encode(s.kind, dtype_size(dt), src, n * dtype_size(dt), payload, &got, &raw);
    if (!st.ok()) return st;
    h.payload = got;
    h.flags = raw ? 1 : 0;
  }
  h.crc = frame_crc(h, payload);
  std::memcpy(frame, &h, sizeof h);
  *frame_bytes = kHeaderBytes + h.payload;
  return Status::Ok();
}

Status payload_bytes(const char* header, DType dt, size_t n, size_t max_payload, size_t* out) {
  Header h;
  std::memcpy(&h, header, sizeof h);
  if (h.magic != kMagic) return bad_frame("bad magic");
  if (h.dtype != uint8_t(dt) || h.count != n)
    return bad_frame("it describes " + std::to_string(h.count) + " elements of dtype " + std::to_string(h.dtype) +
                     ", expected " + std::to_string(n) + " of " + dtype_name(dt));
  if (h.payload > max_payload)
    return bad_frame("payload of " + std::to_string(h.payload) + " bytes, at most " + std::to_string(max_payload));
  *out = h.payload;
  return Status::Ok();
}

Status decode(const char* frame, size_t frame_bytes, DType dt, size_t n, void* dst) {
  if (frame_bytes < kHeaderBytes) return bad_frame("shorter than its header");
  Header h;
  std::memcpy(&h, frame, sizeof h);
  size_t pb = 0;
  if (Status st = payload_bytes(frame, dt, n, frame_bytes - kHeaderBytes, &pb); !st.ok()) return st;
  if (pb != frame_bytes - kHeaderBytes) return bad_frame("length differs from its header");
  const char* payload = frame + kHeaderBytes;
  if (frame_crc(h, payload) != h.crc) return bad_frame("CRC32C mismatch");
  const Kind k = Kind(h.kind);
  if (is_lossy(k)) {
    if (dt != DType::f32) return bad_frame("a lossy codec on a non-f32 tensor");
    const size_t kk = k == Kind::topk ? h.aux : 0;
    if (k == Kind::topk ? (kk > n || pb != 8 * kk) : pb != lossy::payload(k, n, 0))
      return bad_frame("payload size does not match its codec");
    return lossy::decode(k, kk, payload, n, static_cast<float*>(dst));
  }
  if (k != Kind::zstd && k != Kind::lz4) return bad_frame("unknown codec " + std::to_string(h.kind));
  return lossless::decode(k, dtype_size(dt), h.flags & 1, payload, pb, dst, n * dtype_size(dt));
}

}  // namespace onet::codec
