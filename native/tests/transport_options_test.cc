// DeviceOptions by key and make_device (native/transport/common/options.h): every key of the
// table lands in the right backend's field, bad keys and values are refused by name, and the
// factory builds the backend named (or says why it cannot).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "transport/common/options.h"

using namespace onet;
using namespace onet::net;

static int g_failures = 0;
#define CHECK(cond, what)                                                 \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what); \
      g_failures++;                                                       \
    }                                                                     \
  } while (0)

static bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int main() {
  DeviceOptions o;
  CHECK(o.set("transport", "ucx").ok() && o.transport == "ucx", "transport=ucx");
  CHECK(o.set("transport", "tcp").ok() && o.transport == "tcp", "transport=tcp");
  CHECK(o.set("bindIp", "10.1.2.3").ok() && o.tcp.bind_ip == "10.1.2.3" && o.ucx.bind_ip == "10.1.2.3",
        "bindIp sets both");
  CHECK(o.set("port", "4100").ok() && o.tcp.port == 4100 && o.ucx.port == 4100, "port sets both");
  CHECK(o.set("jobHash", "4294967295").ok() && o.tcp.job_hash == 0xFFFFFFFFu && o.ucx.job_hash == 0xFFFFFFFFu,
        "jobHash: the whole u32 range");
  CHECK(o.set("heartbeatMs", "250").ok() && o.tcp.heartbeat_ms == 250 && o.ucx.heartbeat_ms == 250, "heartbeatMs both");
  CHECK(o.set("streams", "4").ok() && o.tcp.streams == 4, "streams");
  CHECK(o.set("checksum", "false").ok() && !o.tcp.checksum, "checksum=false");
  CHECK(o.set("checksum", "1").ok() && o.tcp.checksum, "checksum=1");
  CHECK(o.set("zerocopyBytes", "65536").ok() && o.tcp.zerocopy_bytes == 65536, "zerocopyBytes");
  CHECK(o.set("tlsCa", "/x/ca.pem").ok() && o.tcp.tls_ca == "/x/ca.pem", "tlsCa");
  CHECK(o.set("testCorruptEvery", "3").ok() && o.tcp.test_corrupt_every_n_frames == 3, "testCorruptEvery");

  Status st = o.set("strems", "2");
  CHECK(st.code == Code::kInvalid && has(st.msg, "\"strems\"") && has(st.msg, "streams"),
        ("unknown key named, known keys listed: " + st.msg).c_str());
  st = o.set("streams", "two");
  CHECK(st.code == Code::kInvalid && has(st.msg, "streams=\"two\"") && has(st.msg, "integer"), st.msg.c_str());
  st = o.set("port", "1.5");
  CHECK(st.code == Code::kInvalid, "port=1.5 refused");
  st = o.set("jobHash", "-1");
  CHECK(st.code == Code::kInvalid, "jobHash=-1 refused");
  st = o.set("checksum", "maybe");
  CHECK(st.code == Code::kInvalid && has(st.msg, "true or false"), st.msg.c_str());
  st = o.set("transport", "ib");
  CHECK(st.code == Code::kInvalid && has(st.msg, "tcp or ucx"), st.msg.c_str());
  CHECK(device_option_keys().size() >= 14, "every key listed");

  // The factory builds what it is told, with the backend's own checks.
  DeviceOptions t;
  std::unique_ptr<Device> d;
  st = make_device(t, &d);
  CHECK(st.ok() && d && std::string(d->name()) == "tcp" && has(d->address(), "127.0.0.1:"), st.msg.c_str());
  if (d) d->close();
  t.set("streams", "0");
  st = make_device(t, &d);
  CHECK(st.code == Code::kInvalid && has(st.msg, "ONET_TCP_STREAMS"), st.msg.c_str());
  DeviceOptions u;
  u.set("transport", "ucx");
  std::unique_ptr<Device> du;
  st = make_device(u, &du);
  if (ucx_available()) CHECK(st.ok() && std::string(du->name()) == "ucx", st.msg.c_str());
  else CHECK(st.code == Code::kUnsupported && has(st.msg, "libucx-dev"), st.msg.c_str());
  if (du) du->close();
  DeviceOptions bad;
  bad.transport = "rdma";
  st = make_device(bad, &d);
  CHECK(st.code == Code::kInvalid && has(st.msg, "rdma"), st.msg.c_str());

  if (g_failures) return 1;
  std::printf("transport_options_test: ok\n");
  return 0;
}
