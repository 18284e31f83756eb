// Transport backends (tcp, ucx) against the invariants of transport/transport.h, devices as
// threads of one process over 127.0.0.1 (gloo style). Usage: transport_test [backend...]
// (default: every backend built; `--ucx-available` and `--tls-available` print yes/no). Backends: tcp (2 streams),
// tcp-streams1, tcp-streams4, tcp-nocrc (checksum off), tcp-zerocopy (MSG_ZEROCOPY >= 64 KiB),
// ucx (run with UCX_TLS=tcp or tcp,sm), tcp-tls and tcp-tls-streams1 (encrypted data path:
// mutual TLS 1.3 handshake + AES-256-GCM frames, with certificates made by the openssl CLI in a
// temporary directory at start; skipped when built without OpenSSL). Exit status 0 only when
// every CHECK held.
// `transport_test --hb-peer BACKEND HB_MS` is the child process of test_silent_peer.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/gen/settings.h"
#include "transport/common/liveness.h"
#include "transport/common/options.h"
#include "transport/common/socket.h"
#include "transport/tcp/crc32c.h"
#include "transport/tcp/tls.h"
#include "transport/transport.h"

using namespace onet;
using namespace onet::net;

static std::atomic<int> g_checks{0}, g_failed{0};  // CHECK runs on rank threads too
#define CHECK(cond, what)                                                                                   \
  do {                                                                                                      \
    g_checks++;                                                                                             \
    if (!(cond)) {                                                                                          \
      g_failed++;                                                                                           \
      std::fprintf(stderr, "FAIL %s:%d: %s -- %s\n", __FILE__, __LINE__, #cond, std::string(what).c_str()); \
    }                                                                                                       \
  } while (0)

static bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }
static std::string show(const Status& st) { return std::string(code_name(st.code)) + " " + st.msg; }

// ---- backends -----------------------------------------------------------------------------

struct Backend {
  std::string name;
  bool tcp = true;
  bool tls = false;  // encrypted data path; certificates from g_tls_dir
  TcpOptions topt;
};
using Tweak = std::function<void(int rank, TcpOptions&, UcxOptions&)>;

// Test PKI (make_test_pki): ca.pem; h0/h1 {.pem,.key} signed by it; stranger.{pem,key} signed
// by another CA. Even ranks use h0, odd ranks h1.
static std::string g_tls_dir;
static void use_pki(TcpOptions& t, const std::string& who) {
  t.tls_cert = g_tls_dir + "/" + who + ".pem";
  t.tls_key = g_tls_dir + "/" + who + ".key";
  t.tls_ca = g_tls_dir + "/ca.pem";
}

static Status make_device(const Backend& b, int rank, const Tweak& tweak, std::unique_ptr<Device>* out) {
  TcpOptions t = b.topt;
  UcxOptions u;
  if (b.tls) use_pki(t, rank % 2 ? "h1" : "h0");
  if (tweak) tweak(rank, t, u);
  return b.tcp ? create_tcp_device(t, out) : create_ucx_device(u, out);
}

static void run_ranks(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> ts;
  for (int r = 0; r < n; r++) ts.emplace_back(fn, r);
  for (auto& t : ts) t.join();
}

// W devices connected to each other; empty on failure (reported).
static std::vector<std::unique_ptr<Device>> make_world(const Backend& b, int W, const Tweak& tweak = nullptr) {
  std::vector<std::unique_ptr<Device>> devs(W);
  std::vector<std::string> addrs(W);
  for (int r = 0; r < W; r++) {
    Status st = make_device(b, r, tweak, &devs[r]);
    CHECK(st.ok(), "create device: " + show(st));
    if (!st.ok()) return {};
    addrs[r] = devs[r]->address();
  }
  std::vector<Status> sts(W);
  int64_t deadline = now_ms() + 20000;
  run_ranks(W, [&](int r) { sts[r] = devs[r]->connect(r, addrs, deadline); });
  for (int r = 0; r < W; r++) {
    CHECK(sts[r].ok(), "connect rank " + std::to_string(r) + ": " + show(sts[r]));
    if (!sts[r].ok()) return {};
  }
  return devs;
}

static uint8_t pat(int src, uint64_t salt, size_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t(src) << 40) ^ (salt * 0xBF58476D1CE4E5B9ull);
  return uint8_t(x >> 56);
}
static std::vector<uint8_t> pattern(int src, uint64_t salt, size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = pat(src, salt, i);
  return v;
}
static bool verify(const uint8_t* p, int src, uint64_t salt, size_t n, size_t* bad = nullptr) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != pat(src, salt, i)) {
      if (bad) *bad = i;
      return false;
    }
  return true;
}
static int64_t soon(int64_t ms = 20000) { return now_ms() + ms; }

// ---- tests --------------------------------------------------------------------------------

static void test_all_pairs(const Backend& b) {
  const size_t sizes[] = {0, 1, 4097, 1u << 20, 16u << 20};
  for (int W : {1, 2, 3, 5}) {
    auto devs = make_world(b, W);
    if (devs.empty()) return;
    for (size_t n : sizes) {
      run_ranks(W, [&](int r) {
        Device& d = *devs[r];
        CHECK(d.rank() == r && d.size() == W, "rank/size");
        CHECK(d.pair(r) == nullptr, "pair(self) is nullptr");
        auto out = pattern(r, n, n);
        std::vector<std::vector<uint8_t>> in(W);
        std::vector<std::unique_ptr<Request>> reqs;
        for (int p = 0; p < W; p++) {
          if (p == r) continue;
          in[p].assign(n, 0xEE);
          reqs.push_back(d.pair(p)->irecv(in[p].data(), n, 100 + n));
        }
        for (int p = 0; p < W; p++)
          if (p != r) reqs.push_back(d.pair(p)->isend(out.data(), n, 100 + n));
        for (auto& q : reqs) {
          Status st = q->wait(soon());
          CHECK(st.ok(), b.name + " all-pairs W=" + std::to_string(W) + " n=" + std::to_string(n) + ": " + show(st));
        }
        for (int p = 0; p < W; p++) {
          if (p == r) continue;
          size_t bad = 0;
          CHECK(verify(in[p].data(), p, n, n, &bad), b.name + " W=" + std::to_string(W) + " n=" + std::to_string(n) +
                                                         " from " + std::to_string(p) + " byte " + std::to_string(bad));
        }
      });
    }
    if (W > 1) {
      LinkStats s = devs[1]->stats(0);
      CHECK(s.messages_received == 5 && s.messages_sent == 5, "stats count the 5 messages each way");
      CHECK(s.bytes_received == 1 + 4097 + (1u << 20) + (16u << 20), "stats count the bytes");
    }
    std::printf("  all-pairs W=%d sizes 0,1,4097,1M,16M ok\n", W);
  }
}

static void test_recv_send_orders(const Backend& b) {
  auto devs = make_world(b, 2);
  if (devs.empty()) return;
  for (size_t n : {size_t(4097), size_t(5u << 20)}) {
    // receive posted first
    std::vector<uint8_t> in(n), out = pattern(0, 7, n);
    auto rr = devs[1]->pair(0)->irecv(in.data(), n, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    CHECK(!rr->test(), "a receive with no sender stays pending");
    auto sr = devs[0]->pair(1)->isend(out.data(), n, 1);
    CHECK(rr->wait(soon()).ok() && sr->wait(soon()).ok(), "recv-before-send completes");
    CHECK(verify(in.data(), 0, 7, n), "recv-before-send data");
    // send first: the message waits as unexpected
    std::fill(in.begin(), in.end(), 0);
    sr = devs[0]->pair(1)->isend(out.data(), n, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    rr = devs[1]->pair(0)->irecv(in.data(), n, 2);
    CHECK(rr->wait(soon()).ok() && sr->wait(soon()).ok(), "send-before-recv completes");
    CHECK(verify(in.data(), 0, 7, n), "send-before-recv data");
  }
  std::printf("  recv-before-send and send-before-recv (4097 B, 5 MiB) ok\n");
}

static void test_tags_and_order(const Backend& b) {
  auto devs = make_world(b, 2);
  if (devs.empty()) return;
  // Many tags (all 64 bits used, as the engine does), sent in one order, received in reverse.
  const uint64_t H = 0xF00Dull << 48;
  const int T = 48;
  auto size_of = [](int t) { return size_t(t % 5 == 0 ? (1u << 20) + 3 * t : 17 * t + 1); };
  std::vector<std::vector<uint8_t>> out(T), in(T);
  std::vector<std::unique_ptr<Request>> reqs;
  for (int t = 0; t < T; t++) {
    out[t] = pattern(0, 1000 + t, size_of(t));
    in[t].assign(size_of(t), 0);
  }
  for (int t = 0; t < T; t += 2) reqs.push_back(devs[1]->pair(0)->irecv(in[t].data(), size_of(t), H + 1000 + t));
  for (int t = 0; t < T; t++) reqs.push_back(devs[0]->pair(1)->isend(out[t].data(), size_of(t), H + 1000 + t));
  for (int t = T - 1; t >= 1; t -= 2) reqs.push_back(devs[1]->pair(0)->irecv(in[t].data(), size_of(t), H + 1000 + t));
  bool ok = true;
  for (auto& q : reqs) ok &= q->wait(soon()).ok();
  CHECK(ok, "interleaved tags complete");
  for (int t = 0; t < T; t++)
    CHECK(verify(in[t].data(), 0, 1000 + t, size_of(t)), "tag " + std::to_string(t) + " data");

  // Same tag: messages arrive in send order even when a big one is cut across streams and the
  // small ones after it could overtake it on another socket.
  const int M = 60;
  auto msize = [](int k) { return size_t(k % 3 == 0 ? (2u << 20) + 5 : 100 + k); };
  std::vector<std::vector<uint8_t>> o2(M), i2(M);
  reqs.clear();
  for (int k = 0; k < M; k++) {
    o2[k] = pattern(0, 5000 + k, msize(k));
    i2[k].assign(msize(k), 0);
  }
  for (int k = 0; k < M / 2; k++) reqs.push_back(devs[1]->pair(0)->irecv(i2[k].data(), msize(k), 77));
  for (int k = 0; k < M; k++) reqs.push_back(devs[0]->pair(1)->isend(o2[k].data(), msize(k), 77));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (int k = M / 2; k < M; k++) reqs.push_back(devs[1]->pair(0)->irecv(i2[k].data(), msize(k), 77));
  ok = true;
  for (auto& q : reqs) ok &= q->wait(soon()).ok();
  CHECK(ok, "same-tag messages complete");
  int in_order = 0;
  for (int k = 0; k < M; k++) in_order += verify(i2[k].data(), 0, 5000 + k, msize(k));
  CHECK(in_order == M, "same-tag order: " + std::to_string(in_order) + " of " + std::to_string(M) + " in place");
  std::printf("  %d interleaved tags, %d same-tag messages in order ok\n", T, M);
}

static void test_errors(const Backend& b) {
  auto devs = make_world(b, 2);
  if (devs.empty()) return;
  Pair* s = devs[0]->pair(1);
  Pair* r = devs[1]->pair(0);
  // Size mismatch, receive posted before and after the message.
  std::vector<uint8_t> out = pattern(0, 3, 100), in(200);
  auto rr = r->irecv(in.data(), 200, 5);
  auto sr = s->isend(out.data(), 100, 5);
  Status st = rr->wait(soon());
  CHECK(st.code == Code::kMismatch, "recv 200 for a 100-byte message: " + show(st));
  sr->wait(soon());
  sr = s->isend(out.data(), 100, 6);
  sr->wait(soon());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  rr = r->irecv(in.data(), 50, 6);
  st = rr->wait(soon());
  CHECK(st.code == Code::kMismatch, "recv 50 for an arrived 100-byte message: " + show(st));
  // The link still works afterwards.
  rr = r->irecv(in.data(), 100, 8);
  sr = s->isend(out.data(), 100, 8);
  CHECK(rr->wait(soon()).ok() && sr->wait(soon()).ok() && verify(in.data(), 0, 3, 100), "link fine after mismatches");

  // Deadline: nothing sent yet → kTimeout, and the request stays live.
  rr = r->irecv(in.data(), 100, 9);
  st = rr->wait(now_ms() + 100);
  CHECK(st.code == Code::kTimeout, "wait past the deadline: " + show(st));
  CHECK(contains(st.msg, "host 0"), "timeout names the peer: " + st.msg);
  sr = s->isend(out.data(), 100, 9);
  CHECK(rr->wait(soon()).ok(), "the timed-out receive completes later");
  sr->wait(soon());

  // Peer closes: pending and new requests on that pair fail naming it. A message that fully
  // arrived before the close is still delivered (tcp; UCX may drop it with the endpoint).
  rr = r->irecv(in.data(), 100, 10);
  if (b.tcp) {
    CHECK(s->isend(out.data(), 100, 12)->wait(soon()).ok(), "send before close");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  devs[0]->close();
  devs[0]->close();  // idempotent
  st = rr->wait(soon(5000));
  CHECK(st.code == Code::kAborted, "pending recv when the peer closed: " + show(st));
  CHECK(contains(st.msg, "host 0") && contains(st.msg, devs[0]->address()),
        "abort names host 0 and its address: " + st.msg);
  std::printf("    peer closed -> %s\n", show(st).c_str());
  if (b.tcp) {
    std::vector<uint8_t> late(100);
    st = r->irecv(late.data(), 100, 12)->wait(soon(5000));
    CHECK(st.ok() && verify(late.data(), 0, 3, 100), "message that arrived before the close is delivered: " + show(st));
  }
  st = r->isend(out.data(), 100, 11)->wait(soon(5000));
  CHECK(st.code == Code::kAborted, "send on a dead pair: " + show(st));
  st = s->isend(out.data(), 100, 11)->wait(soon(5000));
  CHECK(st.code == Code::kClosed, "send on a closed device: " + show(st));
  devs[1]->close();
  std::printf("  size mismatch, deadline, peer closed ok\n");
}

// ---- a peer in another process that stops answering ---------------------------------------
// The child (--hb-peer) is host 0: it prints its address, reads host 1's from stdin, connects,
// sends one 4097-byte message (tag 1), then idles until killed. SIGSTOP freezes it the way a
// hung host or coordinator would be: its kernel still holds every socket open, so only the
// heartbeats can tell.

static int hb_peer_main(const Backend& b, int hb) {
  auto hbt = [hb](int, TcpOptions& t, UcxOptions& u) { t.heartbeat_ms = u.heartbeat_ms = hb; };
  std::unique_ptr<Device> d;
  Status st = make_device(b, 0, hbt, &d);
  if (!st.ok()) {
    std::fprintf(stderr, "hb-peer: %s\n", show(st).c_str());
    return 1;
  }
  std::printf("%s\n", d->address().c_str());
  std::fflush(stdout);
  char line[256];
  if (!std::fgets(line, sizeof line, stdin)) return 1;
  std::string other(line);
  while (!other.empty() && (other.back() == '\n' || other.back() == '\r')) other.pop_back();
  st = d->connect(0, {d->address(), other}, soon());
  if (!st.ok()) {
    std::fprintf(stderr, "hb-peer: connect: %s\n", show(st).c_str());
    return 1;
  }
  auto out = pattern(0, 77, 4097);
  st = d->pair(1)->isend(out.data(), out.size(), 1)->wait(soon());
  if (!st.ok()) {
    std::fprintf(stderr, "hb-peer: send: %s\n", show(st).c_str());
    return 1;
  }
  while (std::fgets(line, sizeof line, stdin)) {  // until the parent goes
  }
  return 0;
}

struct Child {
  pid_t pid = -1;
  int in = -1, out = -1;  // its stdin (we write), its stdout (we read)
  std::string addr;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
  }
};

// Starts the child and connects `dev` (host 1, heartbeats every hb ms) to it; false on failure.
static bool start_peer(const Backend& b, int hb, Child* c, std::unique_ptr<Device>* dev) {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC)) return false;
  std::string hbs = std::to_string(hb);
  c->pid = fork();
  if (c->pid == 0) {  // only async-signal-safe calls until exec
    dup2(to[0], 0);
    dup2(from[1], 1);
    execl("/proc/self/exe", "transport_test", "--hb-peer", b.name.c_str(), hbs.c_str(), (char*)nullptr);
    _exit(127);
  }
  ::close(to[0]);
  ::close(from[1]);
  c->in = to[1];
  c->out = from[0];
  CHECK(c->pid > 0, "fork");
  if (c->pid <= 0) return false;
  char buf[256];
  size_t got = 0;
  while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\n')) {
    pollfd pf{c->out, POLLIN, 0};
    if (poll(&pf, 1, 20000) <= 0) break;
    ssize_t r = read(c->out, buf + got, sizeof buf - 1 - got);
    if (r <= 0) break;
    got += size_t(r);
  }
  c->addr.assign(buf, got);
  while (!c->addr.empty() && c->addr.back() == '\n') c->addr.pop_back();
  CHECK(!c->addr.empty(), "the child printed its address");
  if (c->addr.empty()) return false;
  Status st = make_device(
      b, 1, [hb](int, TcpOptions& t, UcxOptions& u) { t.heartbeat_ms = u.heartbeat_ms = hb; }, dev);
  CHECK(st.ok(), "device: " + show(st));
  if (!st.ok()) return false;
  std::string mine = (*dev)->address() + "\n";
  CHECK(write(c->in, mine.data(), mine.size()) == ssize_t(mine.size()), "address to the child");
  st = (*dev)->connect(1, {c->addr, (*dev)->address()}, soon());
  CHECK(st.ok(), "connect to the child: " + show(st));
  if (!st.ok()) return false;
  std::vector<uint8_t> in(4097);
  st = (*dev)->pair(0)->irecv(in.data(), in.size(), 1)->wait(soon());
  CHECK(st.ok() && verify(in.data(), 0, 77, in.size()), "message from the child: " + show(st));
  return st.ok();
}

static void test_silent_peer(const Backend& b) {
  const int hb = 200;
  {
    Child c;
    std::unique_ptr<Device> d;
    if (!start_peer(b, hb, &c, &d)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * hb));  // its heartbeats are heard
    std::vector<uint8_t> in(100), out(100);
    auto early = d->pair(0)->irecv(in.data(), 100, 2);  // pending before the peer froze
    CHECK(kill(c.pid, SIGSTOP) == 0, "SIGSTOP the child");
    int64_t t0 = now_ms();
    Status st = early->wait(soon(30000));
    int64_t took = now_ms() - t0;
    const std::string want = "host 0 (" + c.addr + ") is unreachable: nothing received for ";
    CHECK(st.code == Code::kAborted, "pending recv from a frozen peer: " + show(st));
    CHECK(contains(st.msg, want) && contains(st.msg, "ms (heartbeat every 200 ms, ONET_HEARTBEAT_MS)"),
          "names the host, its address, the silence and the setting: " + st.msg);
    Status later = d->pair(0)->irecv(in.data(), 100, 3)->wait(soon(5000));
    Status send = d->pair(0)->isend(out.data(), 100, 3)->wait(soon(5000));
    CHECK(later.code == Code::kAborted && contains(later.msg, want), "recv posted after: " + show(later));
    CHECK(send.code == Code::kAborted && contains(send.msg, want), "send posted after: " + show(send));
    std::printf("    frozen peer (SIGSTOP) detected after %lld ms (heartbeat %d ms, limit %d x) -> %s\n",
                (long long)took, hb, Liveness::kMissed, show(st).c_str());
    d->close();
  }
  {  // A peer process that dies (SIGKILL): its sockets close; the pair fails naming it.
    Child c;
    std::unique_ptr<Device> d;
    if (!start_peer(b, hb, &c, &d)) return;
    std::vector<uint8_t> in(100);
    auto rr = d->pair(0)->irecv(in.data(), 100, 2);
    CHECK(kill(c.pid, SIGKILL) == 0, "SIGKILL the child");
    int64_t t0 = now_ms();
    Status st = rr->wait(soon(30000));
    int64_t took = now_ms() - t0;
    CHECK(st.code == Code::kAborted && contains(st.msg, "host 0 (" + c.addr + ")"),
          "pending recv from a killed peer: " + show(st));
    std::printf("    killed peer (SIGKILL) detected after %lld ms -> %s\n", (long long)took, show(st).c_str());
    d->close();
  }
  std::printf("  frozen and killed peer processes ok\n");
}

static void test_connect_errors(const Backend& b) {
  // Unreachable peer: a port bound here but never listened on (connects are refused), held until the checks
  // end so that no listener, this test's own devices included, can be given it meanwhile.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sin_len = sizeof sin;
  CHECK(fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &sin_len) == 0,
        "scratch socket");
  std::string dead = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
  std::unique_ptr<Device> d;
  CHECK(make_device(b, 1, nullptr, &d).ok(), "device");
  int64_t t0 = now_ms();
  Status st = d->connect(1, {dead, d->address()}, now_ms() + 600);
  int64_t took = now_ms() - t0;
  CHECK(st.code == Code::kTimeout, "connect to a dead port: " + show(st));
  CHECK(contains(st.msg, "host 0 at " + dead), "timeout names host 0 at its ip:port: " + st.msg);
  std::printf("    unreachable (%lld ms, deadline 600 ms) -> %s\n", (long long)took, show(st).c_str());
  d.reset();
  // Acceptor side: host 1 never shows up.
  CHECK(make_device(b, 0, nullptr, &d).ok(), "device");
  st = d->connect(0, {d->address(), dead}, now_ms() + 300);
  CHECK(st.code == Code::kTimeout && contains(st.msg, "host 1 at " + dead),
        "acceptor timeout names host 1: " + show(st));
  d.reset();
  ::close(fd);

  // Another job / another protocol version: refused, and both sides say why.
  struct Case {
    const char* what;
    Tweak tweak;
    const char* needle;
  } cases[] = {
      {"job hash", [](int r, TcpOptions& t, UcxOptions& u) { t.job_hash = u.job_hash = r == 0 ? 0x1111 : 0x2222; },
       "job hash mismatch"},
      {"version",
       [](int r, TcpOptions& t, UcxOptions& u) {
         if (r == 1) t.test_protocol_version = u.test_protocol_version = 99;
       },
       "protocol version mismatch"},
  };
  for (auto& c : cases) {
    std::unique_ptr<Device> a, z;
    CHECK(make_device(b, 0, c.tweak, &a).ok() && make_device(b, 1, c.tweak, &z).ok(), "devices");
    std::vector<std::string> addrs = {a->address(), z->address()};
    Status sa, sz;
    std::thread ta([&] { sa = a->connect(0, addrs, now_ms() + 800); });
    sz = z->connect(1, addrs, now_ms() + 5000);
    ta.join();
    CHECK(sz.code == Code::kMismatch, std::string(c.what) + ": connecting side: " + show(sz));
    CHECK(contains(sz.msg, c.needle) && contains(sz.msg, "host 0 at " + addrs[0]),
          std::string(c.what) + ": names host and reason: " + sz.msg);
    CHECK(sa.code == Code::kTimeout && contains(sa.msg, c.needle),
          std::string(c.what) + ": accepting side: " + show(sa));
    std::printf("    %s -> %s\n", c.what, show(sz).c_str());
  }
  std::printf("  unreachable peer, wrong job hash, wrong version ok\n");
}

static void test_checksum(const Backend& b) {
  // Host 0 flips a payload byte after the CRC (encrypted link: after sealing, a byte of
  // ciphertext) in every 3rd frame it sends.
  const char* needle = b.tls ? "authentication failed" : "checksum mismatch";
  Tweak corrupt = [](int r, TcpOptions& t, UcxOptions&) { t.test_corrupt_every_n_frames = r == 0 ? 3 : 0; };
  auto devs = make_world(b, 2, corrupt);
  if (devs.empty()) return;
  const size_t n = 4097;  // one frame per message
  std::vector<uint8_t> out = pattern(0, 11, n);
  for (int round = 0; round < 2; round++) {  // round 0: receives posted first; 1: messages first
    std::vector<std::vector<uint8_t>> in(6, std::vector<uint8_t>(n, 0xEE));
    std::vector<std::unique_ptr<Request>> rr(6), sr(6);
    if (round == 0)
      for (int k = 0; k < 6; k++) rr[k] = devs[1]->pair(0)->irecv(in[k].data(), n, 40);
    for (int k = 0; k < 6; k++) sr[k] = devs[0]->pair(1)->isend(out.data(), n, 40);
    if (round == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      for (int k = 0; k < 6; k++) rr[k] = devs[1]->pair(0)->irecv(in[k].data(), n, 40);
    }
    for (int k = 0; k < 6; k++) {
      Status st = rr[k]->wait(soon());
      sr[k]->wait(soon());
      if (k % 3 == 2) {
        CHECK(st.code == Code::kInternal && contains(st.msg, needle) && contains(st.msg, "host 0"),
              "corrupted message " + std::to_string(k) + ": " + show(st));
        CHECK(in[k][n / 2] != uint8_t(out[n / 2] ^ 0xff), "the flipped byte was not delivered");
        if (k == 2 && round == 0) std::printf("    corrupted frame -> %s\n", show(st).c_str());
      } else {
        CHECK(st.ok() && verify(in[k].data(), 0, 11, n), "clean message " + std::to_string(k) + ": " + show(st));
      }
    }
  }
  CHECK(devs[1]->stats(0).checksum_failures == 4,
        "checksum_failures == 4, got " + std::to_string(devs[1]->stats(0).checksum_failures));
  // Checksum off on the receiver: the same corruption goes through (what the CRC is for);
  // on an encrypted link the GCM tag is always checked, so it is still refused.
  auto off = make_world(b, 2, [](int r, TcpOptions& t, UcxOptions&) {
    t.test_corrupt_every_n_frames = r == 0 ? 1 : 0;
    t.checksum = r == 0;
  });
  if (off.empty()) return;
  std::vector<uint8_t> in(n);
  auto rr = off[1]->pair(0)->irecv(in.data(), n, 1);
  off[0]->pair(1)->isend(out.data(), n, 1)->wait(soon());
  Status st = rr->wait(soon());
  if (b.tls)
    CHECK(st.code == Code::kInternal && contains(st.msg, needle),
          "encrypted, checksum=false: still authenticated: " + show(st));
  else CHECK(st.ok() && in[n / 2] == uint8_t(out[n / 2] ^ 0xff), "checksum=false delivers unverified bytes");
  std::printf("  %s reported, never delivered, counted ok\n", needle);
}

// Pair::cancel (an aborted collective's tag range): posted receives fail with the reason,
// later ones at once, messages of the range (arrived, arriving, still to come) are dropped, and
// traffic on other tags — sent after them on the same pair — arrives intact and in order.
// Over UCX a rendezvous send (the 3 MiB and 16 MiB ones) completes only once the receiver has
// taken the message, so "sends complete" also shows that the range's leftovers were drained.
static void test_cancel(const Backend& b) {
  auto devs = make_world(b, 2);
  if (devs.empty()) return;
  Pair *tx = devs[0]->pair(1), *rx = devs[1]->pair(0);
  const uint64_t lo = 0x0001000700000000ull, hi = lo | 0xFFFF;  // (group 1, seq 7)-style range
  const Status why{Code::kInternal, "allreduce #7: host 0 aborted it: test"};
  const size_t big = (3u << 20) + 11, small = 1000;
  std::vector<uint8_t> o_small = pattern(0, 21, small), o_big = pattern(0, 22, big), o_next = pattern(0, 23, big);
  std::vector<uint8_t> i_posted(small), i_after(small), i_next(big, 0), i_flight(16u << 20);
  auto posted = rx->irecv(i_posted.data(), small, lo + 1);     // posted, never sent
  auto unexpected = tx->isend(o_small.data(), small, lo + 2);  // arrives unexpected
  CHECK(unexpected->wait(soon()).ok(), "send into the range");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<uint8_t> o_flight(16u << 20, 7);
  auto flight_r = rx->irecv(i_flight.data(), o_flight.size(), lo + 5);  // matched, mid-arrival
  auto flight_s = tx->isend(o_flight.data(), o_flight.size(), lo + 5);
  rx->cancel(lo, hi, why);
  Status st = posted->wait(soon(1000));
  CHECK(st.code == Code::kInternal && st.msg == why.msg, "posted receive fails with the reason: " + show(st));
  st = flight_r->wait(soon(1000));
  CHECK(st.ok() || st.msg == why.msg, "a receive mid-arrival completes (done or cancelled): " + show(st));
  auto after = rx->irecv(i_after.data(), small, lo + 2);  // the unexpected message was dropped
  st = after->wait(soon(1000));
  CHECK(st.code == Code::kInternal && st.msg == why.msg, "a receive after cancel fails at once: " + show(st));
  // More of the range after the cancel (multi-frame, over every stream), then another tag.
  auto late = tx->isend(o_big.data(), big, lo + 4);
  auto next_s = tx->isend(o_next.data(), big, hi + 1);
  auto next_r = rx->irecv(i_next.data(), big, hi + 1);
  CHECK(late->wait(soon()).ok() && flight_s->wait(soon()).ok() && next_s->wait(soon()).ok(), "sends complete");
  st = next_r->wait(soon());
  CHECK(st.ok() && verify(i_next.data(), 0, 23, big), "the next tag's message is intact: " + show(st));
  // The pair still works both ways.
  std::vector<uint8_t> back(small);
  auto br = devs[0]->pair(1)->irecv(back.data(), small, 9);
  CHECK(
      devs[1]->pair(0)->isend(o_small.data(), small, 9)->wait(soon()).ok() && br->wait(soon()).ok() && back == o_small,
      "reverse traffic");
  std::printf("  cancel: posted/later receives fail with the reason, range traffic dropped, next tag intact ok\n");
}

// ---- encrypted data path (tcp-tls) -------------------------------------------------------

static bool sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

// A CA, two host certificates it signs, and a stranger signed by another CA (ECDSA P-256).
static bool make_test_pki(const std::string& d) {
  std::string q = " >/dev/null 2>&1";
  std::string key = "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2";
  bool ok = sh("cd " + d + " && " + key + " -x509 -keyout ca.key -out ca.pem -subj /CN=onet-test-ca" + q) &&
            sh("cd " + d + " && " + key + " -x509 -keyout ca2.key -out ca2.pem -subj /CN=onet-other-ca" + q);
  for (const char* who : {"h0", "h1", "stranger"}) {
    std::string ca = std::string(who) == "stranger" ? "ca2" : "ca";
    ok = ok && sh("cd " + d + " && " + key + " -keyout " + who + ".key -out " + who + ".csr -subj /CN=" + who + q) &&
         sh("cd " + d + " && openssl x509 -req -in " + who + ".csr -CA " + ca + ".pem -CAkey " + ca +
            ".key -CAcreateserial -days 2 -out " + who + ".pem" + q);
  }
  return ok;
}

static void test_tls(const Backend& b) {
  // The user's buffer is never written (the ciphertext goes to a staging copy).
  {
    auto devs = make_world(b, 2);
    if (devs.empty()) return;
    const size_t n = (3u << 20) + 5;
    std::vector<uint8_t> out = pattern(0, 31, n), in(n);
    auto rr = devs[1]->pair(0)->irecv(in.data(), n, 7);
    CHECK(devs[0]->pair(1)->isend(out.data(), n, 7)->wait(soon()).ok() && rr->wait(soon()).ok(), "encrypted transfer");
    CHECK(verify(in.data(), 0, 31, n) && verify(out.data(), 0, 31, n), "received exact, send buffer untouched");
  }
  // A stranger's certificate (another CA) is refused, on either side, naming the host and why.
  for (int stranger : {1, 0}) {
    Tweak tw = [stranger](int r, TcpOptions& t, UcxOptions&) {
      if (r == stranger) use_pki(t, "stranger");
    };
    std::unique_ptr<Device> a, z;
    CHECK(make_device(b, 0, tw, &a).ok() && make_device(b, 1, tw, &z).ok(), "devices");
    std::vector<std::string> addrs = {a->address(), z->address()};
    Status sa, sz;
    std::thread ta([&] { sa = a->connect(0, addrs, now_ms() + 1500); });
    sz = z->connect(1, addrs, now_ms() + 5000);
    ta.join();
    CHECK(sz.code == Code::kMismatch && contains(sz.msg, "host 0 at " + addrs[0]) && contains(sz.msg, "TLS"),
          "stranger " + std::to_string(stranger) + ": connecting side: " + show(sz));
    if (stranger == 0) {
      CHECK(contains(sz.msg, "certificate failed verification"),
            "the connecting side says the certificate is bad: " + sz.msg);
      CHECK(!sa.ok(), "the stranger gets no link: " + show(sa));
    } else {
      CHECK(sa.code == Code::kTimeout && contains(sa.msg, "host 1: TLS: its certificate failed verification"),
            "accepting side names host 1 and the reason: " + show(sa));
      std::printf("    stranger as host 1, host 0 says -> %s\n", show(sa).c_str());
    }
    std::printf("    stranger as host %d, host 1 says -> %s\n", stranger, show(sz).c_str());
  }
  // One side without encryption: refused at the hello, both sides say why.
  {
    Tweak tw = [](int r, TcpOptions& t, UcxOptions&) {
      if (r == 1) t.tls_cert = t.tls_key = t.tls_ca = "";
    };
    std::unique_ptr<Device> a, z;
    CHECK(make_device(b, 0, tw, &a).ok() && make_device(b, 1, tw, &z).ok(), "devices");
    std::vector<std::string> addrs = {a->address(), z->address()};
    Status sa, sz;
    std::thread ta([&] { sa = a->connect(0, addrs, now_ms() + 800); });
    sz = z->connect(1, addrs, now_ms() + 5000);
    ta.join();
    CHECK(sz.code == Code::kMismatch && contains(sz.msg, "data encryption mismatch"),
          "plaintext peer refused: " + show(sz));
    std::printf("    plaintext peer -> %s\n", show(sz).c_str());
  }
  // Bad settings fail at device creation.
  std::unique_ptr<Device> d;
  Status st = make_device(
      b, 0, [](int, TcpOptions& t, UcxOptions&) { t.tls_ca = ""; }, &d);
  CHECK(st.code == Code::kInvalid && contains(st.msg, "all three"), "two of three TLS files: " + show(st));
  st = make_device(
      b, 0, [](int, TcpOptions& t, UcxOptions&) { t.tls_key = "/nonexistent/key.pem"; }, &d);
  CHECK(st.code == Code::kInvalid && contains(st.msg, "ONET_TLS_KEY=/nonexistent/key.pem"),
        "missing key file: " + show(st));
  std::printf("  tls: user buffer untouched, stranger refused both ways, plaintext peer refused, bad files ok\n");
}

static void bench(const Backend& b) {
  auto devs = make_world(b, 2);
  if (devs.empty()) return;
  const size_t n = 64u << 20;
  std::vector<uint8_t> out(n, 1), in(n);
  auto once = [&] {
    auto rr = devs[1]->pair(0)->irecv(in.data(), n, 3);
    auto sr = devs[0]->pair(1)->isend(out.data(), n, 3);
    return rr->wait(soon(60000)).ok() && sr->wait(soon(60000)).ok();
  };
  CHECK(once(), "warm-up transfer");
  const int iters = 4;
  auto t0 = std::chrono::steady_clock::now();
  bool ok = true;
  for (int i = 0; i < iters; i++) ok &= once();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ok, "bench transfers");
  std::printf("  throughput %s: 64 MiB loopback x%d, %.2f GB/s (%.1f ms each)\n", b.name.c_str(), iters,
              iters * double(n) / s / 1e9, s * 1000 / iters);
}

static void test_crc() {
  const char* s = "123456789";
  CHECK(tcp::crc32c(0, s, 9) == 0xE3069283, "CRC32C check value");
  CHECK(tcp::crc32c_table(0, s, 9) == 0xE3069283, "CRC32C table check value");
  auto v = pattern(1, 2, 100003);
  uint32_t a = tcp::crc32c(0, v.data() + 3, 100000), c = tcp::crc32c_table(0, v.data() + 3, 100000);
  uint32_t split = tcp::crc32c(tcp::crc32c(0, v.data() + 3, 4097), v.data() + 4100, 100000 - 4097);
  CHECK(a == c && a == split, "hardware, table and chained CRC agree");
  std::printf("crc32c: check value, table == %s, chaining ok\n", tcp::crc32c_hw() ? "sse4.2" : "table");
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc == 2 && std::string(argv[1]) == "--ucx-available") {
    std::printf("%s\n", ucx_available() ? "yes" : "no");
    return 0;
  }
  if (argc == 2 && std::string(argv[1]) == "--tls-available") {  // built with OpenSSL (encrypted tcp)
#ifdef ONET_HAVE_OPENSSL
    std::printf("yes\n");
#else
    std::printf("no\n");
#endif
    return 0;
  }
  std::vector<Backend> all;
  auto add = [&](const char* name, std::function<void(TcpOptions&)> f, bool tcp = true) {
    Backend b;
    b.name = name;
    b.tcp = tcp;
    if (f) f(b.topt);
    all.push_back(b);
  };
  add("tcp", nullptr);
  add("tcp-streams1", [](TcpOptions& o) { o.streams = 1; });
  add("tcp-streams4", [](TcpOptions& o) { o.streams = 4; });
  add("tcp-nocrc", [](TcpOptions& o) { o.checksum = false; });
  add("tcp-zerocopy", [](TcpOptions& o) { o.zerocopy_bytes = 64 << 10; });
  add("ucx", nullptr, false);
  add("tcp-tls", nullptr);
  all.back().tls = true;
  add("tcp-tls-streams1", [](TcpOptions& o) { o.streams = 1; });
  all.back().tls = true;
  // The test PKI: made once by the first process, inherited by the --hb-peer children.
  bool own_pki = false;
  if (const char* d = getenv(onet::gen::settings::kTestTlsDir.env)) g_tls_dir = d;
  if (g_tls_dir.empty() && tcp::tls_available()) {
    char tmpl[] = "/tmp/onet-tls-test-XXXXXX";
    if (mkdtemp(tmpl) && make_test_pki(tmpl)) {
      g_tls_dir = tmpl;
      own_pki = true;
      setenv(onet::gen::settings::kTestTlsDir.env, tmpl, 1);
    } else {
      std::fprintf(stderr, "could not make test certificates with the openssl CLI in %s\n", tmpl);
    }
  }
  if (argc == 4 && std::string(argv[1]) == "--hb-peer") {
    for (auto& b : all)
      if (b.name == argv[2]) return hb_peer_main(b, std::atoi(argv[3]));
    return 2;
  }
  // `--bench N backend...`: only the throughput, N rounds with the backends interleaved, so
  // a noisy shared machine slows them alike (the numbers docs/transport.md quotes).
  int bench_rounds = 0;
  if (argc >= 3 && std::string(argv[1]) == "--bench") {
    bench_rounds = std::max(1, std::atoi(argv[2]));
    argv += 2;
    argc -= 2;
  }
  std::vector<std::string> want;
  for (int i = 1; i < argc; i++) want.push_back(argv[i]);
  for (auto& w : want) {
    bool known = false;
    for (auto& b : all) known |= b.name == w;
    if (!known) {
      std::fprintf(
          stderr,
          "unknown backend '%s' (tcp tcp-streams1 tcp-streams4 tcp-nocrc tcp-zerocopy ucx tcp-tls tcp-tls-streams1)\n",
          w.c_str());
      return 2;
    }
  }
  if (bench_rounds) {
    for (int round = 0; round < bench_rounds; round++)
      for (auto& w : want)
        for (auto& b : all)
          if (b.name == w && b.tcp && (!b.tls || !g_tls_dir.empty())) bench(b);
    if (own_pki) sh("rm -rf '" + g_tls_dir + "'");
    std::printf("%d checks, %d failed\n", g_checks.load(), g_failed.load());
    return g_failed ? 1 : 0;
  }
  test_crc();
  for (auto& b : all) {
    if (!want.empty() && std::find(want.begin(), want.end(), b.name) == want.end()) continue;
    if (!b.tcp && !ucx_available()) {
      std::unique_ptr<Device> d;
      Status st = create_ucx_device({}, &d);
      CHECK(st.code == Code::kUnsupported, "create_ucx_device without UCX: " + show(st));
      std::printf("[ucx] SKIPPED: built without UCX (%s)\n", st.msg.c_str());
      continue;
    }
    if (b.tls && !tcp::tls_available()) {
      std::unique_ptr<Device> d;
      Status st = make_device(
          b, 0, [](int, TcpOptions& t, UcxOptions&) { t.tls_cert = t.tls_key = t.tls_ca = "/x.pem"; }, &d);
      CHECK(st.code == Code::kUnsupported && contains(st.msg, "OpenSSL"), "encryption without OpenSSL: " + show(st));
      std::printf("[%s] SKIPPED: built without OpenSSL (%s)\n", b.name.c_str(), st.msg.c_str());
      continue;
    }
    CHECK(!b.tls || !g_tls_dir.empty(), "test certificates for " + b.name);
    if (b.tls && g_tls_dir.empty()) continue;
    const char* tls = getenv("UCX_TLS");
    std::printf("[%s]%s%s\n", b.name.c_str(), b.tcp ? "" : " UCX_TLS=", b.tcp ? "" : (tls ? tls : "(default)"));
    int before = g_failed;
    test_all_pairs(b);
    test_recv_send_orders(b);
    test_tags_and_order(b);
    test_errors(b);
    test_connect_errors(b);
    test_silent_peer(b);
    if (b.tcp && (b.topt.checksum || b.tls)) test_checksum(b);
    if (b.tls) test_tls(b);
    test_cancel(b);
    bench(b);
    std::printf("[%s] %s\n", b.name.c_str(), g_failed == before ? "ok" : "FAILED");
    std::fflush(stdout);
  }
  if (own_pki) sh("rm -rf '" + g_tls_dir + "'");
  std::printf("%d checks, %d failed\n", g_checks.load(), g_failed.load());
  return g_failed ? 1 : 0;
}
