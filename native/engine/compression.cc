// Compression state of the cross-host engine (crosshost_state.h, docs/compression.md): the job's codec
// from ONET_COMPRESSION, each group's override, the per-call choice from the slot flags, error-feedback
// residuals per (group, key), and the bytes before/after per codec for metrics.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "common/gen/layout.h"
#include "common/gen/settings.h"
#include "engine/crosshost_state.h"

namespace onet {

CrossHostState::CrossHostState() {
  const char* env = std::getenv(gen::settings::kCompression.env);
  std::string v = env ? env : gen::settings::kCompression.def;
  if (v == "auto") {
    z_auto = true;
    return;
  }
  Status st = codec::parse(v, &z_default);
  if (!st.ok()) z_error = std::string(gen::settings::kCompression.env) + ": " + st.msg;
}

Status CrossHostState::set_compression(uint32_t group, const std::string& text) {
  codec::Spec s;
  std::lock_guard<std::mutex> lk(z_mu);
  if (text.empty()) {
    z_group.erase(group);
    return Status::Ok();
  }
  if (text == "auto") {
    z_group[group] = codec::Spec{codec::Kind::off, -1.0};  // ratio −1 marks auto
    return Status::Ok();
  }
  Status st = codec::parse(text, &s);
  if (!st.ok()) return {st.code, "group " + std::to_string(group) + ": " + st.msg};
  z_group[group] = s;
  return Status::Ok();
}

namespace {

constexpr uint64_t kAutoMinBytes = 1u << 20;  // below this the latency dominates: auto never compresses

// Encode + decode speed of codec `s` on this host, bytes of f32 per second, on 4 MiB of gradient-like data.
void measure(const codec::Spec& s, double* enc, double* dec) {
  const size_t n = 1u << 20;
  std::vector<float> x(n), y(n);
  uint32_t r = 12345;
  for (size_t i = 0; i < n; i++) {
    r = r * 1664525u + 1013904223u;
    x[i] = (float(r >> 8) / 16777216.0f - 0.5f) * (i % 97 ? 0.01f : 10.0f);
  }
  std::vector<char> f(codec::max_frame_bytes(s, DType::f32, n));
  size_t fb = 0;
  auto t0 = std::chrono::steady_clock::now();
  codec::encode(s, DType::f32, x.data(), n, f.data(), &fb);
  auto t1 = std::chrono::steady_clock::now();
  codec::decode(f.data(), fb, DType::f32, n, y.data());
  auto t2 = std::chrono::steady_clock::now();
  *enc = n * 4 / std::max(1e-9, std::chrono::duration<double>(t1 - t0).count());
  *dec = n * 4 / std::max(1e-9, std::chrono::duration<double>(t2 - t1).count());
}

}  // namespace

// The codec for one call. `auto` (the job's, the group's or the call's) proposes, per call, the codec with
// the smallest predicted time on the compressed ring — T_off = V/B against T_c = V/(ratio·B) + S/enc +
// V/dec (V = 2(H−1)/H·S on the wire, B the measured link throughput) — if it beats off by 15 %; host 0's
// proposal is what every host runs (agree.cc), so hosts measuring slightly differently still agree.
// Without a measurement yet, below 1 MiB, for non-f32 data, or inside a host, auto is off.
void CrossHostState::z_choose(uint32_t group, uint32_t flags, CrossJob* job) {
  std::lock_guard<std::mutex> lk(z_mu);
  codec::Spec s = z_default;
  bool autom = z_auto;
  auto it = z_group.find(group);
  if (it != z_group.end()) s = it->second, autom = s.ratio < 0;
  if (autom) s = codec::Spec{};
  const uint32_t call = (flags / layout::kFlagCompression) & 0xF, key = flags / layout::kFlagEfKey;
  if (call >= 1 && call <= 7) autom = false;
  if (call == 1) s = codec::Spec{};
  if (call >= 2 && call <= 7) {
    double ratio = s.kind == codec::Kind::topk ? s.ratio : 0.01;
    s = codec::Spec{codec::Kind(call - 1), ratio};
  }
  if (call == 8) autom = true, s = codec::Spec{};
  job->codec = s;
  if (autom) {
    job->z_auto = true;
    const int H = job->comm.size;
    const double S = double(job->count) * dtype_size(job->dt), V = H > 1 ? 2.0 * (H - 1) / H * S : 0;
    job->z_why = "auto: off";
    if (job->dt == DType::f32 && S >= kAutoMinBytes && H > 1 && ++z_auto_large % 32 != 0 && z_link_bps > 0) {
      const double t_off = V / z_link_bps;
      double best = t_off * 0.85;
      std::ostringstream why;
      why << "auto: link " << z_link_bps / 1e9 << " GB/s, off " << t_off * 1e3 << " ms";
      for (codec::Kind k : {codec::Kind::bf16, codec::Kind::int8}) {
        codec::Spec c{k, 0.01};
        if (!codec::applies(c, job->dt, job->op)) continue;
        const int ki = int(k);
        if (z_enc_bps[ki] == 0) measure(c, &z_enc_bps[ki], &z_dec_bps[ki]);
        const double ratio = 4.0 * (1u << 20) / double(codec::max_frame_bytes(c, DType::f32, 1u << 20));
        const double t = V / (ratio * z_link_bps) + S / z_enc_bps[ki] + V / z_dec_bps[ki];
        why << ", " << codec::name(c) << " " << t * 1e3 << " ms";
        if (t < best) best = t, job->z_proposal = c;
      }
      why << " → " << codec::name(job->z_proposal);
      job->z_why = why.str();
    }
  }
  if (key && (autom || (s.on() && !codec::is_lossless(s.kind)))) {
    auto& r = residuals[{group, key}];
    if (!r) r = std::make_shared<std::vector<float>>();
    job->residual = r;
  }
}

void CrossHostState::z_observe(const CrossJob& j, double seconds) {
  if (j.coll != Coll::allreduce || j.codec.on() || j.comm.size < 2 || seconds <= 0) return;
  const double S = double(j.count) * dtype_size(j.dt);
  if (S < kAutoMinBytes) return;
  const double bps = 2.0 * (j.comm.size - 1) / j.comm.size * S / seconds;
  std::lock_guard<std::mutex> lk(z_mu);
  z_link_bps = z_link_bps == 0 ? bps : 0.7 * z_link_bps + 0.3 * bps;
}

void CrossHostState::z_count(const std::string& name, uint64_t raw, uint64_t sent) {
  std::lock_guard<std::mutex> lk(z_mu);
  ZCount& c = z_counts[name];
  c.calls++;
  c.raw_bytes += raw;
  c.sent_bytes += sent;
}

void CrossHostState::z_drop_group(uint32_t group) {
  std::lock_guard<std::mutex> lk(z_mu);
  for (auto it = residuals.begin(); it != residuals.end();)
    it = it->first.first == group ? residuals.erase(it) : std::next(it);
}

std::string CrossHostState::compression_json() {
  std::lock_guard<std::mutex> lk(z_mu);
  std::ostringstream o;
  o << "{\"default\":\"" << (z_auto ? "auto" : codec::name(z_default)) << "\",\"residuals\":" << residuals.size()
    << ",\"codecs\":{";
  bool first = true;
  for (auto& [name, c] : z_counts) {
    o << (first ? "" : ",") << "\"" << name << "\":{\"calls\":" << c.calls << ",\"bytesBefore\":" << c.raw_bytes
      << ",\"bytesAfter\":" << c.sent_bytes << "}";
    first = false;
  }
  o << "}}";
  return o.str();
}

}  // namespace onet
