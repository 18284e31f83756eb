// DeviceOptions by key, and the one factory. The table below is the only list of option keys:
// a key every backend has writes each backend's field, so nothing is copied field by field.
#include "transport/common/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>

namespace onet::net {
namespace {

Status bad(const std::string& key, const std::string& value, const char* want) {
  return {Code::kInvalid, "transport option " + key + "=\"" + value + "\": expected " + want};
}

Status parse(const std::string&, const std::string& v, std::string* out) {
  *out = v;
  return Status::Ok();
}

Status parse(const std::string& key, const std::string& v, bool* out) {
  if (v == "true" || v == "1") *out = true;
  else if (v == "false" || v == "0") *out = false;
  else return bad(key, v, "true or false");
  return Status::Ok();
}

// Integers: the whole text, in [lo, hi].
template <class T>
Status parse_int(const std::string& key, const std::string& v, T* out, long double lo, long double hi) {
  errno = 0;
  char* end = nullptr;
  long double x = std::strtold(v.c_str(), &end);
  if (v.empty() || errno || *end || !(x >= lo && x <= hi) || x != std::floor(x))
    return bad(
        key, v,
        ("an integer from " + std::to_string((long long)lo) + " to " + std::to_string((unsigned long long)hi)).c_str());
  *out = T(x);
  return Status::Ok();
}
Status parse(const std::string& k, const std::string& v, int* out) {
  return parse_int(k, v, out, std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
}
Status parse(const std::string& k, const std::string& v, uint32_t* out) { return parse_int(k, v, out, 0, UINT32_MAX); }
Status parse(const std::string& k, const std::string& v, uint16_t* out) { return parse_int(k, v, out, 0, UINT16_MAX); }
Status parse(const std::string& k, const std::string& v, size_t* out) {
  return parse_int(k, v, out, 0, double(1ull << 53));
}

using Setter = std::function<Status(DeviceOptions&, const std::string& key, const std::string& value)>;

// A knob both backends have.
template <class T>
Setter both(T TcpOptions::*t, T UcxOptions::*u) {
  return [t, u](DeviceOptions& o, const std::string& k, const std::string& v) {
    T x{};
    Status st = parse(k, v, &x);
    if (st.ok()) o.tcp.*t = o.ucx.*u = x;
    return st;
  };
}
// A knob of the tcp backend; other backends have no use for it (docs/transport.md says why).
template <class T>
Setter tcp(T TcpOptions::*t) {
  return [t](DeviceOptions& o, const std::string& k, const std::string& v) { return parse(k, v, &(o.tcp.*t)); };
}

struct Field {
  const char* key;
  Setter set;
};

const std::vector<Field>& table() {
  static const std::vector<Field> t = {
      {"transport",
       [](DeviceOptions& o, const std::string& k, const std::string& v) {
         if (v != "tcp" && v != "ucx") return bad(k, v, "tcp or ucx");
         o.transport = v;
         return Status::Ok();
       }},
      {"bindIp", both(&TcpOptions::bind_ip, &UcxOptions::bind_ip)},
      {"port", both(&TcpOptions::port, &UcxOptions::port)},
      {"jobHash", both(&TcpOptions::job_hash, &UcxOptions::job_hash)},
      {"heartbeatMs", both(&TcpOptions::heartbeat_ms, &UcxOptions::heartbeat_ms)},
      {"testProtocolVersion", both(&TcpOptions::test_protocol_version, &UcxOptions::test_protocol_version)},
      {"streams", tcp(&TcpOptions::streams)},
      {"checksum", tcp(&TcpOptions::checksum)},
      {"zerocopyBytes", tcp(&TcpOptions::zerocopy_bytes)},
      {"socketBuffer", tcp(&TcpOptions::socket_buffer)},
      {"tlsCert", tcp(&TcpOptions::tls_cert)},
      {"tlsKey", tcp(&TcpOptions::tls_key)},
      {"tlsCa", tcp(&TcpOptions::tls_ca)},
      {"testCorruptEvery", tcp(&TcpOptions::test_corrupt_every_n_frames)},
  };
  return t;
}

}  // namespace

std::vector<std::string> device_option_keys() {
  std::vector<std::string> keys;
  for (const Field& f : table()) keys.push_back(f.key);
  return keys;
}

Status DeviceOptions::set(const std::string& key, const std::string& value) {
  for (const Field& f : table())
    if (key == f.key) return f.set(*this, key, value);
  std::string known;
  for (const Field& f : table()) known += (known.empty() ? "" : ", ") + std::string(f.key);
  return {Code::kInvalid, "unknown transport option \"" + key + "\" (known: " + known + ")"};
}

Status make_device(const DeviceOptions& o, std::unique_ptr<Device>* out) {
  if (o.transport == "tcp") return create_tcp_device(o.tcp, out);
  if (o.transport == "ucx") return create_ucx_device(o.ucx, out);
  return {Code::kInvalid, "ONET_TRANSPORT=" + o.transport + " is not a transport; use tcp, ucx or auto"};
}

}  // namespace onet::net
