// The compression codecs (native/codec) alone, and compressed allreduce (native/algo/zring.cc,
// native/algo/zgather.cc) with ranks as threads over the mem transport:
//  - names: parse/name round trip, bad names and ratios refused with the valid choices;
//  - every codec × dtype (f32 f64 bf16 i32 u8) × count (0, 1, 4097, 1<<20): lossless codecs give the input
//    back bit for bit; lossy ones (f32 only; other dtypes are kInvalid) stay within their documented bound
//    (docs/compression.md): bf16 |e| <= 2^-8|x|, fp16 2^-11|x| (normal range), int8 max|block|/254,
//    top-k keeps exactly the ceil(R·n) largest |x| and zeroes the rest;
//  - a frame with any one byte flipped (header or payload) or truncated is kProto and the output is untouched;
//  - non-finite input to int8/top-k is kInvalid; zstd/lz4 without the library are kUnsupported.
// `codec_test --bench` prints encode/decode speed per codec on this host (what `auto` is calibrated with).
// Exit status is non-zero when any CHECK failed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <functional>
#include <thread>

#include "algo/compressed.h"
#include "codec/codec.h"
#include "reduce/reduce.h"
#include "transport/transport.h"

using namespace onet;

namespace {

std::atomic<long> g_checks{0}, g_failures{0};

#define CHECK(cond, ...)                                                    \
  do {                                                                      \
    ++g_checks;                                                             \
    if (!(cond)) {                                                          \
      if (++g_failures <= 40) {                                             \
        std::fprintf(stderr, "FAIL %s:%d %s: ", __FILE__, __LINE__, #cond); \
        std::fprintf(stderr, __VA_ARGS__);                                  \
        std::fprintf(stderr, "\n");                                         \
      }                                                                     \
    }                                                                       \
  } while (0)

const DType kDTypes[] = {DType::f32, DType::f64, DType::bf16, DType::i32, DType::u8};
const size_t kCounts[] = {0, 1, 4097, 1u << 20};
const char* const kCodecs[] = {"bf16", "fp16", "int8", "topk:0.01", "topk:0.3", "zstd", "lz4"};

// Gradient-like data: mostly small normal values, a few large ones, a run of zeros.
void fill(DType dt, uint32_t seed, void* p, size_t n) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 1e-3f);
  const size_t es = dtype_size(dt);
  for (size_t i = 0; i < n; i++) {
    float v = (i % 97 == 0) ? nd(g) * 1000 : (i % 1000 < 50 ? 0.0f : nd(g));
    char* at = static_cast<char*>(p) + i * es;
    switch (dt) {
      case DType::f32: std::memcpy(at, &v, 4); break;
      case DType::f64: {
        double d = v;
        std::memcpy(at, &d, 8);
        break;
      }
      case DType::bf16: {
        uint32_t u;
        std::memcpy(&u, &v, 4);
        uint16_t h = uint16_t(u >> 16);
        std::memcpy(at, &h, 2);
        break;
      }
      case DType::i32: {
        int32_t x = int32_t(v * 1e5f);
        std::memcpy(at, &x, 4);
        break;
      }
      default: *reinterpret_cast<uint8_t*>(at) = uint8_t(g() % 7); break;
    }
  }
}

bool lossy_within(const codec::Spec& s, const float* x, const float* y, size_t n, std::string* why) {
  if (s.kind == codec::Kind::topk) {
    size_t kk = std::min(n, std::max<size_t>(1, size_t(std::ceil(double(n) * s.ratio))));
    if (n == 0) kk = 0;
    size_t kept = 0;
    float min_kept = INFINITY, max_dropped = 0;
    for (size_t i = 0; i < n; i++) {
      if (y[i] != 0 || (x[i] == 0 && kept < kk && false)) {
        if (y[i] != x[i]) return *why = "kept value changed at " + std::to_string(i), false;
        kept++;
        min_kept = std::min(min_kept, std::fabs(x[i]));
      } else {
        max_dropped = std::max(max_dropped, std::fabs(x[i]));
      }
    }
    // Zeros may be kept (they decode as zero); the nonzero kept ones must be the largest.
    if (kept > kk) return *why = "kept " + std::to_string(kept) + " > k " + std::to_string(kk), false;
    if (kept && kept < kk && max_dropped > 0) return *why = "kept fewer than k while nonzeros were dropped", false;
    if (kept && max_dropped > min_kept) return *why = "dropped a larger value than one kept", false;
    return true;
  }
  for (size_t i = 0; i < n; i++) {
    float e = std::fabs(x[i] - y[i]), bound = 0;
    if (s.kind == codec::Kind::bf16) bound = std::ldexp(std::fabs(x[i]), -8);
    if (s.kind == codec::Kind::fp16) bound = std::max(std::ldexp(std::fabs(x[i]), -11), std::ldexp(1.0f, -25));
    if (s.kind == codec::Kind::int8) {
      size_t lo = i / codec::kInt8Block * codec::kInt8Block, hi = std::min(n, lo + codec::kInt8Block);
      float m = 0;
      for (size_t j = lo; j < hi; j++) m = std::max(m, std::fabs(x[j]));
      bound = m / 254.0f * 1.0001f;
    }
    if (!(e <= bound))
      return *why = "element " + std::to_string(i) + ": " + std::to_string(x[i]) + " came back " +
                    std::to_string(y[i]) + " (bound " + std::to_string(bound) + ")",
             false;
  }
  return true;
}

void test_names() {
  codec::Spec s;
  for (const char* n : kCodecs) {
    CHECK(codec::parse(n, &s).ok(), "parse %s", n);
    codec::Spec t;
    CHECK(codec::parse(codec::name(s), &t).ok() && t.kind == s.kind && t.ratio == s.ratio, "round trip %s", n);
  }
  CHECK(codec::parse("topk:1%", &s).ok() && s.ratio == 0.01, "topk:1%%");
  CHECK(codec::parse("off", &s).ok() && !s.on(), "off");
  Status st = codec::parse("gzip", &s);
  CHECK(st.code == Code::kInvalid && st.msg.find("bf16") != std::string::npos, "unknown name: %s", st.msg.c_str());
  st = codec::parse("topk:2", &s);
  CHECK(st.code == Code::kInvalid && st.msg.find("(0, 1]") != std::string::npos, "bad ratio: %s", st.msg.c_str());
  CHECK(codec::parse("auto", &s).code == Code::kInvalid, "auto is resolved by the coordinator");
}

void test_roundtrip() {
  for (const char* cn : kCodecs) {
    codec::Spec s;
    codec::parse(cn, &s);
    std::string why;
    if (!codec::available(s.kind, &why)) {
      std::printf("codec_test: SKIP %s: %s\n", cn, why.c_str());
      std::vector<char> f(codec::max_frame_bytes(s, DType::f32, 4) + 64);
      float x[4] = {1, 2, 3, 4};
      size_t fb;
      CHECK(codec::encode(s, DType::f32, x, 4, f.data(), &fb).code == Code::kUnsupported, "%s unsupported", cn);
      continue;
    }
    for (DType dt : kDTypes) {
      for (size_t n : kCounts) {
        if (n > 4097 && dt != DType::f32 && dt != DType::bf16) continue;  // the big count on the 4- and 2-byte cases
        const size_t es = dtype_size(dt);
        std::vector<char> x(n * es + 1), y(n * es + 1, 0x5A), f(codec::max_frame_bytes(s, dt, n));
        fill(dt, uint32_t(n * 31 + int(dt)), x.data(), n);
        size_t fb = 0;
        Status st = codec::encode(s, dt, x.data(), n, f.data(), &fb);
        if (!codec::is_lossless(s.kind) && dt != DType::f32) {
          CHECK(st.code == Code::kInvalid && st.msg.find("f32") != std::string::npos, "%s on %s: %s", cn,
                dtype_name(dt), st.msg.c_str());
          continue;
        }
        CHECK(st.ok(), "%s %s n=%zu encode: %s", cn, dtype_name(dt), n, st.msg.c_str());
        CHECK(fb <= f.size(), "%s frame %zu > bound %zu", cn, fb, f.size());
        st = codec::decode(f.data(), fb, dt, n, y.data());
        CHECK(st.ok(), "%s %s n=%zu decode: %s", cn, dtype_name(dt), n, st.msg.c_str());
        if (codec::is_lossless(s.kind)) {
          CHECK(std::memcmp(x.data(), y.data(), n * es) == 0, "%s %s n=%zu not bit-identical", cn, dtype_name(dt), n);
        } else {
          CHECK(lossy_within(s, reinterpret_cast<float*>(x.data()), reinterpret_cast<float*>(y.data()), n, &why),
                "%s n=%zu: %s", cn, n, why.c_str());
        }
        if (n == (1u << 20) && dt == DType::f32)
          std::printf("codec_test: %-10s f32 2^20 gradient-like: ratio %.2fx\n", cn, double(n * es) / double(fb));
        // Corruption: every byte position class (header fields, first/middle/last payload byte), and truncation.
        std::vector<size_t> at = {0, 4, 8, 16, 28, codec::kHeaderBytes, fb / 2, fb - 1};
        for (size_t a : at) {
          if (a >= fb) continue;
          std::vector<char> bad(f.begin(), f.begin() + fb), z(n * es + 1, 0x33);
          bad[a] ^= 0x10;
          st = codec::decode(bad.data(), fb, dt, n, z.data());
          CHECK(st.code == Code::kProto, "%s flip at %zu/%zu: %d %s", cn, a, fb, int(st.code), st.msg.c_str());
          CHECK(std::all_of(z.begin(), z.end(), [](char c) { return c == 0x33; }), "%s: corrupt frame wrote output",
                cn);
        }
        st = codec::decode(f.data(), fb - 1, dt, n, y.data());
        CHECK(st.code == Code::kProto, "%s truncated: %s", cn, st.msg.c_str());
      }
    }
  }
  // Non-finite values in int8/top-k are refused by name.
  for (const char* cn : {"int8", "topk:0.5"}) {
    codec::Spec s;
    codec::parse(cn, &s);
    float x[3] = {1, NAN, 2};
    std::vector<char> f(codec::max_frame_bytes(s, DType::f32, 3));
    size_t fb;
    Status st = codec::encode(s, DType::f32, x, 3, f.data(), &fb);
    CHECK(st.code == Code::kInvalid && st.msg.find("nan") != std::string::npos, "%s nan: %s", cn, st.msg.c_str());
  }
  // Casts keep specials: inf, -0, nan, fp16 overflow to inf, subnormals.
  {
    float x[6] = {INFINITY, -0.0f, NAN, 1e6f, 3e-8f, 65504.0f};
    for (const char* cn : {"bf16", "fp16"}) {
      codec::Spec s;
      codec::parse(cn, &s);
      std::vector<char> f(codec::max_frame_bytes(s, DType::f32, 6));
      float y[6];
      size_t fb;
      CHECK(codec::encode(s, DType::f32, x, 6, f.data(), &fb).ok(), "%s specials", cn);
      CHECK(codec::decode(f.data(), fb, DType::f32, 6, y).ok(), "%s specials decode", cn);
      CHECK(std::isinf(y[0]) && y[1] == 0 && std::signbit(y[1]) && std::isnan(y[2]), "%s inf/-0/nan", cn);
      if (std::string(cn) == "fp16") CHECK(std::isinf(y[3]) && y[5] == 65504.0f, "fp16 overflow %g", y[3]);
      if (std::string(cn) == "fp16") CHECK(std::fabs(y[4] - 3e-8f) <= std::ldexp(1.0f, -25), "fp16 subnormal %g", y[4]);
    }
  }
}

void bench() {
  const size_t n = 1u << 22;  // 16 MiB of f32
  std::vector<float> x(n), y(n);
  fill(DType::f32, 7, x.data(), n);
  std::printf("codec_test: speed on this host, 16 MiB of f32 (gradient-like), one thread\n");
  std::printf("%-10s %8s %12s %12s\n", "codec", "ratio", "encode GB/s", "decode GB/s");
  for (const char* cn : kCodecs) {
    codec::Spec s;
    codec::parse(cn, &s);
    if (!codec::available(s.kind)) continue;
    std::vector<char> f(codec::max_frame_bytes(s, DType::f32, n));
    size_t fb = 0;
    double te = 1e9, td = 1e9;
    for (int r = 0; r < 3; r++) {
      auto t0 = std::chrono::steady_clock::now();
      codec::encode(s, DType::f32, x.data(), n, f.data(), &fb);
      auto t1 = std::chrono::steady_clock::now();
      codec::decode(f.data(), fb, DType::f32, n, y.data());
      auto t2 = std::chrono::steady_clock::now();
      te = std::min(te, std::chrono::duration<double>(t1 - t0).count());
      td = std::min(td, std::chrono::duration<double>(t2 - t1).count());
    }
    std::printf("%-10s %7.2fx %12.2f %12.2f\n", cn, double(n * 4) / fb, n * 4 / te / 1e9, n * 4 / td / 1e9);
  }
}

// ---- compressed allreduce, ranks as threads over mem (or a corrupting wrapper) -------------------

// Sends the first payload message (tag + 1) of one pair with one byte flipped: a corrupt frame on the wire.
class CorruptPair : public net::Pair {
 public:
  CorruptPair(net::Pair* in, uint64_t tag) : in_(in), tag_(tag) {}
  int peer() const override { return in_->peer(); }
  std::unique_ptr<net::Request> isend(const void* b, size_t n, uint64_t tag) override {
    if (tag != tag_ || done_ || n == 0) return in_->isend(b, n, tag);
    done_ = true;
    copy_.assign(static_cast<const char*>(b), static_cast<const char*>(b) + n);
    copy_[n / 2] ^= 0x01;
    return in_->isend(copy_.data(), n, tag);
  }
  std::unique_ptr<net::Request> irecv(void* b, size_t n, uint64_t tag) override { return in_->irecv(b, n, tag); }

 private:
  net::Pair* in_;
  uint64_t tag_;
  bool done_ = false;
  std::vector<char> copy_;
};

using Fn = std::function<Status(int, net::Comm&)>;
std::vector<Status> run_world(int P, const Fn& fn, int corrupt_rank = -1, int64_t deadline_ms = 20000) {
  auto devs = net::create_mem_devices(P);
  std::vector<Status> st(P);
  std::vector<std::thread> th;
  std::vector<std::unique_ptr<CorruptPair>> wrap;
  for (int r = 0; r < P; r++) {
    net::Comm c;
    c.rank = r;
    c.size = P;
    c.tag = 1ull << 20;
    c.deadline_ms = net::now_ms() + deadline_ms;
    for (int q = 0; q < P; q++) {
      net::Pair* p = devs[r]->pair(q);
      if (r == corrupt_rank && p) {
        wrap.push_back(std::make_unique<CorruptPair>(p, c.tag + 1));
        p = wrap.back().get();
      }
      c.pairs.push_back(p);
    }
    th.emplace_back([&, r, c]() mutable { st[r] = fn(r, c); });
  }
  for (auto& t : th) t.join();
  for (auto& d : devs) d->close();
  return st;
}

using Algo = Status (*)(net::Comm&, void*, size_t, DType, RedOp, const codec::Spec&, float*, const algo::Options&,
                        algo::ZStats*);

void test_algorithms() {
  const struct {
    const char* name;
    Algo fn;
  } algos[] = {{"zring", algo::allreduce_zring}, {"zgather", algo::allreduce_zgather}};
  const int worlds[] = {1, 2, 3, 5};
  const DType dts[] = {DType::f32, DType::f64, DType::i32};
  algo::Options o;
  o.chunk_bytes = 64 << 10;  // several chunks per block at 1<<20
  for (const char* cn : kCodecs) {
    codec::Spec z;
    codec::parse(cn, &z);
    if (!codec::available(z.kind)) continue;
    for (auto& a : algos) {
      double worst = 0;  // max |result − exact| / max|exact| over the sweep (lossy)
      for (int P : worlds) {
        for (DType dt : dts) {
          if (!codec::applies(z, dt, RedOp::sum)) continue;
          for (size_t n : kCounts) {
            if (n == (1u << 20) && (P == 5 || dt != DType::f32)) continue;  // keep the binary fast
            const size_t es = dtype_size(dt);
            std::vector<std::vector<char>> in(P, std::vector<char>(n * es + 1)), out = in, ref = in;
            for (int r = 0; r < P; r++) fill(dt, uint32_t(r * 7919 + n), in[r].data(), n);
            out = in;
            ref = in;
            std::vector<std::vector<float>> res(P, std::vector<float>(n + 1));
            const bool ef = !codec::is_lossless(z.kind);
            auto st = run_world(P, [&](int r, net::Comm& c) {
              return a.fn(c, out[r].data(), n, dt, RedOp::sum, z, ef ? res[r].data() : nullptr, o, nullptr);
            });
            for (int r = 0; r < P; r++)
              CHECK(st[r].ok(), "%s %s P=%d %s n=%zu rank %d: %s", a.name, cn, P, dtype_name(dt), n, r,
                    st[r].msg.c_str());
            for (int r = 1; r < P; r++)
              CHECK(std::memcmp(out[0].data(), out[r].data(), n * es) == 0, "%s %s P=%d n=%zu: rank %d differs", a.name,
                    cn, P, n, r);
            // The uncompressed result of the same schedule: ring for zring, host-order reduce for zgather.
            if (std::string(a.name) == "zring") {
              run_world(
                  P, [&](int r, net::Comm& c) { return algo::allreduce_ring(c, ref[r].data(), n, dt, RedOp::sum, o); });
            } else if (n) {
              std::vector<const void*> v(P);
              for (int r = 0; r < P; r++) v[r] = in[r].data();
              reduce::reduce(RedOp::sum, dt, ref[0].data(), v.data(), P, n, 1.0, 1);
            }
            if (codec::is_lossless(z.kind) || P == 1) {
              CHECK(std::memcmp(out[0].data(), ref[0].data(), n * es) == 0, "%s %s P=%d %s n=%zu: not bit-identical",
                    a.name, cn, P, dtype_name(dt), n);
              continue;
            }
            const float* y = reinterpret_cast<const float*>(out[0].data());
            const float* x = reinterpret_cast<const float*>(ref[0].data());
            double mx = 0, err = 0;
            for (size_t i = 0; i < n; i++) mx = std::max(mx, double(std::fabs(x[i])));
            // Error feedback: the residuals of all hosts add up to what the result lost.
            double ef_gap = 0;
            for (size_t i = 0; i < n; i++) {
              err = std::max(err, double(std::fabs(x[i] - y[i])));
              double sum_r = 0;
              for (int r = 0; r < P; r++) sum_r += res[r][i];
              ef_gap = std::max(ef_gap, std::fabs(double(x[i]) - double(y[i]) - sum_r));
            }
            if (mx > 0 && z.kind != codec::Kind::topk) worst = std::max(worst, err / mx);
            CHECK(ef_gap <= 1e-5 * std::max(1.0, mx), "%s %s P=%d n=%zu: residuals miss %g of the error", a.name, cn, P,
                  n, ef_gap);
          }
        }
      }
      if (!codec::is_lossless(z.kind) && z.kind != codec::Kind::topk)
        std::printf("codec_test: %-7s %-10s max |error| / max |sum| = %.3g (P <= 5)\n", a.name, cn, worst);
      // Documented bounds (docs/compression.md), relative to max|sum|, for P <= 5 hosts.
      const double bound = z.kind == codec::Kind::bf16 ? 0.02 : z.kind == codec::Kind::fp16 ? 0.003 : 0.05;
      if (!codec::is_lossless(z.kind) && z.kind != codec::Kind::topk)
        CHECK(worst <= bound, "%s %s: error %g above the documented bound %g", a.name, cn, worst, bound);
    }
  }
  // A corrupt frame is caught by the checksum at the receiver (kProto) and never decoded into a result.
  for (auto& a : algos) {
    codec::Spec z;
    codec::parse("int8", &z);
    const size_t n = 4097;
    std::vector<std::vector<float>> buf(3, std::vector<float>(n, 1.0f));
    auto st = run_world(
        3,
        [&](int r, net::Comm& c) { return a.fn(c, buf[r].data(), n, DType::f32, RedOp::sum, z, nullptr, o, nullptr); },
        /*corrupt_rank=*/0, /*deadline_ms=*/2000);
    int proto = 0, ok = 0;
    for (auto& s : st) proto += s.code == Code::kProto, ok += s.ok();
    CHECK(proto >= 1, "%s: corrupt frame not reported as kProto (%s / %s / %s)", a.name, st[0].msg.c_str(),
          st[1].msg.c_str(), st[2].msg.c_str());
    for (int r = 0; r < 3; r++)
      if (st[r].code == Code::kProto)
        CHECK(st[r].msg.find("CRC32C") != std::string::npos, "%s: %s", a.name, st[r].msg.c_str());
    std::printf("codec_test: %s corrupt frame: %d host(s) report kProto, %d completed (from frames before it)\n",
                a.name, proto, ok);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--codecs") {  // the codecs this build has, for the vitest wrapper
    std::string out;
    for (const char* cn : {"bf16", "fp16", "int8", "topk", "zstd", "lz4"}) {
      codec::Spec s;
      codec::parse(cn, &s);
      if (codec::available(s.kind)) out += (out.empty() ? "" : ",") + std::string(cn);
    }
    std::printf("%s\n", out.c_str());
    return 0;
  }
  bool want_bench = argc > 1 && std::string(argv[1]) == "--bench";
  if (want_bench) {
    bench();
    return 0;
  }
  test_names();
  test_roundtrip();
  test_algorithms();
  std::printf("codec_test: %ld checks, %ld failed\n", g_checks.load(), g_failures.load());
  return g_failures.load() ? 1 : 0;
}
