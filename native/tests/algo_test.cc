// Every inter-host algorithm (native/algo) against a serial reference, ranks as threads over
// the in-process mem transport, and a smaller sweep (world sizes 1, 2, 3, 5; counts up to
// 4097; eight dtype × op pairs) over the tcp transport on 127.0.0.1.
//
// Sweep: world sizes 1..9 × counts 0, 1, 7, 4097, 1<<18 × dtypes f32 f64 bf16 i32 i64 u8 ×
// ops sum prod min max (+ band bor bxor on integers), uneven v-count vectors with zeros and
// scattered displacements, every root at every world size for broadcast/reduce. Inputs are
// small integers, so every float sum/product is exact in any order and results compare
// bit for bit with reduce::reduce over all ranks' inputs at once. The 1<<18 count runs a
// subset of dtype × op pairs to keep the binary under a minute on one core.
// Also: the mem transport's invariants, concurrent collectives on distinct tags, deadlines
// (one rank never calls → kTimeout, not a hang), bad calls → kInvalid, and an informational
// throughput table. Exit status is non-zero when any CHECK failed.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "algo/algo.h"
#include "reduce/reduce.h"
#include "transport/common/options.h"
#include "transport/transport.h"

using namespace onet;
using algo::Call;

namespace {

std::atomic<long> g_checks{0}, g_failures{0};
std::mutex g_print_mu;
std::string g_case;  // what the main thread is testing, for failure messages

#define CHECK(cond, ...)                                                                         \
  do {                                                                                           \
    ++g_checks;                                                                                  \
    if (!(cond)) {                                                                               \
      long n = ++g_failures;                                                                     \
      if (n <= 40) {                                                                             \
        std::lock_guard<std::mutex> lk(g_print_mu);                                              \
        std::fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, g_case.c_str(), #cond); \
        std::fprintf(stderr, __VA_ARGS__);                                                       \
        std::fprintf(stderr, "\n");                                                              \
      }                                                                                          \
    }                                                                                            \
  } while (0)

const DType kDTypes[] = {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::u8};
const RedOp kOps[] = {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max, RedOp::band, RedOp::bor, RedOp::bxor};
const size_t kCounts[] = {0, 1, 7, 4097, 1u << 18};

bool op_ok(DType dt, RedOp op) {
  return !(dtype_is_float(dt) && (op == RedOp::band || op == RedOp::bor || op == RedOp::bxor));
}
// The 1<<18 count runs only these pairs (each dtype and each op at least once).
bool big_pair(DType dt, RedOp op) {
  return (dt == DType::f32 && op == RedOp::sum) || (dt == DType::bf16 && op == RedOp::max) ||
         (dt == DType::f64 && op == RedOp::prod) || (dt == DType::i64 && op == RedOp::bxor) ||
         (dt == DType::i32 && op == RedOp::min) || (dt == DType::u8 && op == RedOp::sum) ||
         (dt == DType::i32 && op == RedOp::band) || (dt == DType::u8 && op == RedOp::bor);
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Small integers chosen per op so every result is exact in every dtype (bf16 holds 8
// significant bits): sums of 9 values in [-3, 3], products of ±1/±2, min/max in [-100, 100].
void fill(DType dt, RedOp op, uint64_t seed, void* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = mix(seed * 1000003 + i);
    long v;
    switch (op) {
      case RedOp::sum: v = long(h % 7) - 3; break;
      case RedOp::prod: v = (h & 1 ? 1 : 2) * (h & 2 ? 1 : -1); break;
      case RedOp::min:
      case RedOp::max: v = long(h % 201) - 100; break;
      default: v = long(h >> 8); break;  // bitwise: any bits
    }
    if (dt == DType::u8 && op != RedOp::band && op != RedOp::bor && op != RedOp::bxor) v = long(h % 256);
    switch (dt) {
      case DType::f32: static_cast<float*>(p)[i] = float(v); break;
      case DType::f64: static_cast<double*>(p)[i] = double(v); break;
      case DType::bf16: {
        float f = float(v);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        static_cast<uint16_t*>(p)[i] = uint16_t(bits >> 16);  // exact: small integers
        break;
      }
      case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
      case DType::i64: static_cast<int64_t*>(p)[i] = int64_t(v) * int64_t(h | 1); break;
      case DType::u8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
      default: break;
    }
  }
}

using Bytes = std::vector<char>;

// P devices of one backend and a thread per rank for each collective call.
struct World {
  int P;
  std::vector<std::unique_ptr<net::Device>> devs;
  uint64_t next_tag = algo::kTagSpan;
  explicit World(std::vector<std::unique_ptr<net::Device>> d) : P(int(d.size())), devs(std::move(d)) {}
  net::Comm comm(int r, uint64_t tag, int timeout_ms) {
    net::Comm c;
    c.rank = r;
    c.size = P;
    for (int p = 0; p < P; ++p) c.pairs.push_back(devs[r]->pair(p));
    c.deadline_ms = net::now_ms() + timeout_ms;
    c.tag = tag;
    return c;
  }
  // fn(rank, comm) on every rank at once; ranks listed in `skip` never call (deadline tests).
  std::vector<Status> run(const std::function<Status(int, net::Comm&)>& fn, int timeout_ms = 30000, int skip = -1) {
    const uint64_t tag = next_tag;
    next_tag += algo::kTagSpan;
    std::vector<Status> st(P);
    std::vector<std::thread> th;
    for (int r = 0; r < P; ++r) {
      if (r == skip) continue;
      auto body = [&, r] {
        net::Comm c = comm(r, tag, timeout_ms);
        st[r] = fn(r, c);
      };
      if (P == 1) body();
      else th.emplace_back(body);
    }
    for (auto& t : th) t.join();
    return st;
  }
};

bool all_ok(const std::vector<Status>& st, std::string* why) {
  for (size_t r = 0; r < st.size(); ++r) {
    if (!st[r].ok()) {
      *why = "rank " + std::to_string(r) + ": " + code_name(st[r].code) + " " + st[r].msg;
      return false;
    }
  }
  return true;
}

algo::Options opts_for(size_t bytes) {
  algo::Options o;
  // Small odd chunks (not a multiple of any element size) on mid sizes exercise many chunks,
  // window wrap-around and partial last chunks; big sizes use 64 KiB chunks.
  o.chunk_bytes = bytes <= (64u << 10) ? 1000 : (64u << 10);
  o.inflight = 3;
  return o;
}

std::string desc(const char* coll, const std::string& name, int P, size_t n, DType dt, RedOp op) {
  return std::string(coll) + "/" + name + " P=" + std::to_string(P) + " n=" + std::to_string(n) + " " + dtype_name(dt) +
         " " + redop_name(op);
}

// ---- allreduce / reduce -----------------------------------------------------------------

void test_allreduce(World& w, const std::string& name, size_t n, DType dt, RedOp op) {
  const int P = w.P;
  const size_t es = dtype_size(dt);
  g_case = desc("allreduce", name, P, n, dt, op);
  std::vector<Bytes> in(P, Bytes(n * es)), buf;
  std::vector<const void*> ptrs;
  for (int r = 0; r < P; ++r) {
    fill(dt, op, uint64_t(r) * 7919 + n, in[r].data(), n);
    ptrs.push_back(in[r].data());
  }
  Bytes ref(n * es);
  CHECK(reduce::reduce(op, dt, ref.data(), ptrs.data(), P, n, 1.0, P).ok(), "reference");
  buf = in;
  const algo::Options o = opts_for(n * es);
  auto st = w.run([&](int r, net::Comm& c) {
    Call call;
    call.coll = Coll::allreduce;
    call.buf = buf[r].data();
    call.count = n;
    call.dt = dt;
    call.op = op;
    return algo::run(name, c, call, o);
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  for (int r = 0; r < P; ++r) CHECK(buf[r] == ref, "rank %d result differs from the serial reference", r);
}

void test_reduce(World& w, size_t n, DType dt, RedOp op, int root) {
  const int P = w.P;
  const size_t es = dtype_size(dt);
  g_case = desc("reduce", "binomial", P, n, dt, op) + " root=" + std::to_string(root);
  std::vector<Bytes> in(P, Bytes(n * es));
  std::vector<const void*> ptrs;
  for (int r = 0; r < P; ++r) {
    fill(dt, op, uint64_t(r) * 31 + n + root, in[r].data(), n);
    ptrs.push_back(in[r].data());
  }
  Bytes ref(n * es);
  CHECK(reduce::reduce(op, dt, ref.data(), ptrs.data(), P, n, 1.0, P).ok(), "reference");
  std::vector<Bytes> buf = in;
  const algo::Options o = opts_for(n * es);
  auto st = w.run([&](int r, net::Comm& c) {
    Call call;
    call.coll = Coll::reduce;
    call.buf = buf[r].data();
    call.count = n;
    call.dt = dt;
    call.op = op;
    call.root = root;
    return algo::run("binomial", c, call, o);
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  CHECK(buf[root] == ref, "root %d result differs from the serial reference", root);
}

// ---- v-collectives ------------------------------------------------------------------------

struct Layout {
  std::vector<size_t> counts, displs;
  size_t span = 0;  // elements the buffer needs
};

// kind 0: equal counts n; 1: uneven with zeros, packed; 2: uneven, blocks in reverse rank
// order with gaps (not packed); 3: one non-empty block.
Layout layout(int P, size_t n, int kind) {
  Layout l;
  for (int i = 0; i < P; ++i) {
    size_t c = n;
    if (kind == 1 || kind == 2) c = (i % 3 == 1) ? 0 : (size_t(i) * 37 + n) % (n + 11);
    if (kind == 3) c = (i == P / 2) ? n : 0;
    l.counts.push_back(c);
  }
  l.displs.assign(P, 0);
  size_t off = 0;
  for (int k = 0; k < P; ++k) {
    const int i = kind == 2 ? P - 1 - k : k;
    if (kind == 2) off += 3;  // a gap before every block
    l.displs[i] = off;
    off += l.counts[i];
  }
  l.span = off + (kind == 2 ? 5 : 0);
  return l;
}

void test_allgather(World& w, const std::string& name, const Layout& l, DType dt, int kind) {
  const int P = w.P;
  const size_t es = dtype_size(dt);
  g_case = desc("allgatherv", name, P, l.span, dt, RedOp::sum) + " layout=" + std::to_string(kind);
  Bytes ref(l.span * es, char(0x5a));  // gaps keep their sentinel
  for (int r = 0; r < P; ++r) fill(dt, RedOp::bxor, uint64_t(r) + 77, ref.data() + l.displs[r] * es, l.counts[r]);
  std::vector<Bytes> buf(P, Bytes(l.span * es, char(0x5a)));
  for (int r = 0; r < P; ++r)
    std::memcpy(buf[r].data() + l.displs[r] * es, ref.data() + l.displs[r] * es, l.counts[r] * es);
  const algo::Options o = opts_for(l.span * es / std::max(1, P));
  auto st = w.run([&](int r, net::Comm& c) {
    Call call;
    call.coll = Coll::allgatherv;
    call.buf = buf[r].data();
    call.counts = l.counts;
    call.displs = l.displs;
    call.dt = dt;
    return algo::run(name, c, call, o);
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  for (int r = 0; r < P; ++r) CHECK(buf[r] == ref, "rank %d gathered buffer differs", r);
}

void test_reduce_scatter(World& w, const std::string& name, const Layout& l, DType dt, RedOp op, int kind) {
  const int P = w.P;
  const size_t es = dtype_size(dt);
  g_case = desc("reduce_scatterv", name, P, l.span, dt, op) + " layout=" + std::to_string(kind);
  std::vector<Bytes> in(P, Bytes(l.span * es));
  std::vector<const void*> ptrs;
  for (int r = 0; r < P; ++r) {
    fill(dt, op, uint64_t(r) * 13 + l.span, in[r].data(), l.span);
    ptrs.push_back(in[r].data());
  }
  Bytes ref(l.span * es);
  CHECK(reduce::reduce(op, dt, ref.data(), ptrs.data(), P, l.span, 1.0, P).ok(), "reference");
  std::vector<Bytes> buf = in;
  const algo::Options o = opts_for(l.span * es / std::max(1, P));
  auto st = w.run([&](int r, net::Comm& c) {
    Call call;
    call.coll = Coll::reduce_scatterv;
    call.buf = buf[r].data();
    call.counts = l.counts;
    call.displs = l.displs;
    call.dt = dt;
    call.op = op;
    return algo::run(name, c, call, o);
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  for (int r = 0; r < P; ++r) {
    CHECK(std::memcmp(buf[r].data() + l.displs[r] * es, ref.data() + l.displs[r] * es, l.counts[r] * es) == 0,
          "rank %d block differs from the serial reference", r);
  }
}

// ---- broadcast, alltoall, barrier ---------------------------------------------------------

void test_broadcast(World& w, const std::string& name, size_t bytes, int root) {
  const int P = w.P;
  g_case = "broadcast/" + name + " P=" + std::to_string(P) + " bytes=" + std::to_string(bytes) +
           " root=" + std::to_string(root);
  Bytes ref(bytes);
  fill(DType::u8, RedOp::bxor, 99 + root, ref.data(), bytes);
  std::vector<Bytes> buf(P, Bytes(bytes, char(0x11)));
  buf[root] = ref;
  const algo::Options o = opts_for(bytes);
  auto st = w.run([&](int r, net::Comm& c) {
    Call call;
    call.coll = Coll::broadcast;
    call.buf = buf[r].data();
    call.count = bytes;
    call.root = root;
    return algo::run(name, c, call, o);
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  for (int r = 0; r < P; ++r) CHECK(buf[r] == ref, "rank %d received different bytes", r);
}

void test_alltoall(World& w, size_t n, bool uneven) {
  const int P = w.P;
  g_case = "alltoallv/pairwise P=" + std::to_string(P) + " n=" + std::to_string(n) + (uneven ? " uneven" : "");
  auto size = [&](int from, int to) -> size_t {
    return uneven ? ((from + to) % 3 == 0 ? 0 : (size_t(from) * 7 + to * 3 + n) % (n + 5)) : n;
  };
  std::vector<Bytes> send(P), recv(P);
  std::vector<std::vector<size_t>> sb(P), sd(P), rb(P), rd(P);
  for (int r = 0; r < P; ++r) {
    size_t so = 0, ro = 0;
    for (int j = 0; j < P; ++j) {
      sb[r].push_back(size(r, j));
      sd[r].push_back(so);
      so += size(r, j);
      rb[r].push_back(size(j, r));
      rd[r].push_back(ro);
      ro += size(j, r);
    }
    send[r].resize(so);
    fill(DType::u8, RedOp::bxor, 500 + r, send[r].data(), so);
    recv[r].assign(ro, 0);
  }
  const algo::Options o;
  auto st = w.run([&](int r, net::Comm& c) {
    Call call;
    call.coll = Coll::alltoallv;
    call.send = send[r].data();
    call.buf = recv[r].data();
    call.counts = sb[r];
    call.displs = sd[r];
    call.rcounts = rb[r];
    call.rdispls = rd[r];
    return algo::run("pairwise", c, call, o);
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  for (int r = 0; r < P; ++r) {
    for (int i = 0; i < P; ++i) {
      CHECK(std::memcmp(recv[r].data() + rd[r][i], send[i].data() + sd[i][r], rb[r][i]) == 0,
            "rank %d block from %d differs", r, i);
    }
  }
}

void test_barrier(World& w) {
  const int P = w.P;
  g_case = "barrier/dissemination P=" + std::to_string(P);
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> arrived{0};
    std::atomic<int> early{0};
    auto st = w.run([&](int r, net::Comm& c) {
      std::this_thread::sleep_for(std::chrono::milliseconds(r == round % P ? 20 : 0));  // a late rank
      arrived++;
      Status s = algo::run("dissemination", c, Call{Coll::barrier}, algo::Options{});
      if (arrived.load() != P) early++;
      return s;
    });
    std::string why;
    CHECK(all_ok(st, &why), "%s", why.c_str());
    CHECK(early.load() == 0, "%d ranks left the barrier before every rank arrived", early.load());
  }
}

// ---- transport invariants (mem backend) -------------------------------------------------

void test_mem_transport() {
  g_case = "mem transport";
  auto devs = net::create_mem_devices(3);
  net::Pair* a = devs[0]->pair(1);  // 0 → 1
  net::Pair* b = devs[1]->pair(0);  // 1 ← 0
  const int64_t dl = net::now_ms() + 5000;
  CHECK(devs[0]->pair(0) == nullptr, "pair(self) must be nullptr");
  // Ordering per (pair, tag) with receives posted after the sends (unexpected messages),
  // and a second tag that is received first without being blocked by the first.
  std::vector<int> vals(50), got(50, -1);
  std::vector<std::unique_ptr<net::Request>> sends;
  for (int i = 0; i < 50; ++i) {
    vals[i] = i;
    sends.push_back(a->isend(&vals[i], sizeof(int), 7));
  }
  int other = 42, other_got = 0;
  sends.push_back(a->isend(&other, sizeof(int), 8));
  CHECK(b->irecv(&other_got, sizeof(int), 8)->wait(dl).ok() && other_got == 42, "tag 8 blocked behind tag 7");
  for (int i = 0; i < 50; ++i) CHECK(b->irecv(&got[i], sizeof(int), 7)->wait(dl).ok(), "recv %d", i);
  CHECK(got == vals, "messages of one tag arrived out of order");
  for (auto& s : sends) CHECK(s->test() && s->wait(dl).ok(), "send not completed");
  // Receive posted before the send; zero-byte message.
  char z = 0;
  auto r0 = b->irecv(&z, 0, 9);
  CHECK(!r0->test(), "zero-byte receive completed before its send");
  CHECK(a->isend(&z, 0, 9)->wait(dl).ok() && r0->wait(dl).ok(), "zero-byte message");
  // Size mismatch: both ends see kMismatch.
  int64_t big = 1;
  auto rs = b->irecv(&big, 8, 10);
  auto ss = a->isend(&other, 4, 10);
  CHECK(rs->wait(dl).code == Code::kMismatch, "receive of the wrong size must be kMismatch");
  CHECK(ss->wait(dl).code == Code::kMismatch, "send of the wrong size must be kMismatch");
  // Deadline: nobody sends.
  const int64_t t0 = net::now_ms();
  Status t = b->irecv(&big, 8, 11)->wait(t0 + 100);
  CHECK(t.code == Code::kTimeout, "wait past the deadline must be kTimeout, got %s", code_name(t.code));
  // An abandoned request never completes into freed memory: destroy it, then send.
  { auto gone = b->irecv(&big, 8, 12); }
  int64_t fresh = 0, v = 5;
  auto later = b->irecv(&fresh, 8, 12);
  CHECK(a->isend(&v, 8, 12)->wait(dl).ok() && later->wait(dl).ok() && fresh == 5, "cancelled receive matched");
  // Stats count delivered payload bytes.
  CHECK(devs[0]->stats(1).bytes_sent == devs[1]->stats(0).bytes_received && devs[0]->stats(1).messages_sent >= 53,
        "link stats");
  // close(): own pending requests kClosed, the peer's kAborted, later posts fail at once.
  auto mine = devs[2]->pair(0)->irecv(&big, 8, 13);
  auto theirs = devs[0]->pair(2)->irecv(&big, 8, 14);
  devs[2]->close();
  CHECK(mine->wait(dl).code == Code::kClosed, "own pending request after close must be kClosed");
  Status ab = theirs->wait(dl);
  CHECK(ab.code == Code::kAborted && ab.msg.find("peer 2") != std::string::npos, "peer's request: %s", ab.msg.c_str());
  CHECK(devs[0]->pair(2)->isend(&v, 8, 15)->wait(dl).code == Code::kAborted, "send to a closed peer");
}

// ---- deadlines, bad calls, concurrency ------------------------------------------------------

void test_timeouts() {
  struct Case {
    Coll coll;
    std::string name;
    bool all;
  };
  std::vector<Case> cases;
  for (const algo::AlgoInfo& a : algo::kAlgorithms) {  // the registry (spec/algorithms.json)
    if (a.kind != algo::AlgoKind::kInter) continue;
    // Everyone needs rank 2's data in these; in broadcast/reduce some ranks may finish.
    cases.push_back({a.coll, a.name, a.coll != Coll::broadcast && a.coll != Coll::reduce});
  }
  for (const Case& k : cases) {
    g_case = std::string("timeout ") + coll_name(k.coll) + "/" + k.name;
    World w(net::create_mem_devices(3));
    const size_t n = 100;
    std::vector<Bytes> buf(3, Bytes(n * 8 * 3));
    std::vector<Bytes> out(3, Bytes(n * 8 * 3));
    const int64_t t0 = net::now_ms();
    auto st = w.run(
        [&](int r, net::Comm& c) {
          Call call;
          call.coll = k.coll;
          call.buf = buf[r].data();
          call.count = n;
          call.dt = DType::i64;
          call.counts.assign(3, n);
          call.displs = {0, n, 2 * n};
          if (k.coll == Coll::alltoall) {
            call.send = out[r].data();
            call.counts.assign(3, n * 8);
            call.displs = {0, n * 8, 2 * n * 8};
            call.rcounts = call.counts;
            call.rdispls = call.displs;
          }
          return algo::run(k.name, c, call, algo::Options{});
        },
        200, /*skip=*/2);
    const int64_t took = net::now_ms() - t0;
    int timeouts = 0;
    for (int r = 0; r < 2; ++r) {
      CHECK(st[r].ok() || st[r].code == Code::kTimeout, "rank %d: %s %s", r, code_name(st[r].code), st[r].msg.c_str());
      if (st[r].code == Code::kTimeout) {
        ++timeouts;
        CHECK(st[r].msg.find(k.name) != std::string::npos, "timeout message lacks context: %s", st[r].msg.c_str());
      }
    }
    CHECK(k.all ? timeouts == 2 : timeouts >= 1, "%d of 2 ranks timed out", timeouts);
    CHECK(took < 20000, "returned after %lld ms", (long long)took);  // bounded, not a speed check
  }
}

void test_bad_calls() {
  g_case = "bad calls";
  World w(net::create_mem_devices(2));
  auto expect = [&](const std::string& name, Call call, Code code, const char* what) {
    auto st = w.run([&](int, net::Comm& c) { return algo::run(name, c, call, algo::Options{}); });
    CHECK(st[0].code == code && st[1].code == code, "%s: got %s %s", what, code_name(st[0].code), st[0].msg.c_str());
  };
  int32_t x[4] = {};
  Call ar;
  ar.coll = Coll::allreduce;
  ar.buf = x;
  ar.count = 4;
  ar.dt = DType::i32;
  expect("nope", ar, Code::kInvalid, "unknown algorithm");
  Call avg = ar;
  avg.op = RedOp::avg;
  expect("ring", avg, Code::kInvalid, "avg");
  Call fb = ar;
  fb.dt = DType::f32;
  fb.op = RedOp::bxor;
  expect("ring", fb, Code::kUnsupported, "bxor on f32");
  Call bc;
  bc.coll = Coll::broadcast;
  bc.buf = x;
  bc.count = 4;
  bc.root = 2;
  expect("chain", bc, Code::kInvalid, "root out of range");
  Call ag;
  ag.coll = Coll::allgather;
  ag.buf = x;
  ag.counts = {1};
  ag.displs = {0};
  expect("ring", ag, Code::kInvalid, "counts of the wrong length");
  CHECK(algo::names(Coll::allreduce).size() == 3 && algo::names(Coll::gather).empty(), "names()");
  // An engine path of the registry is not an inter-host algorithm: run() refuses it by name and by entry.
  expect("oneshot", ar, Code::kInvalid, "engine path by name");
  const algo::AlgoInfo* os = algo::find(Coll::allreduce, "oneshot");
  CHECK(os && os->kind == algo::AlgoKind::kEngine, "oneshot is in the registry as an engine path");
  if (os) {
    auto st = w.run([&](int, net::Comm& c) { return algo::run(*os, c, ar, algo::Options{}); });
    CHECK(st[0].code == Code::kInvalid, "engine path by entry: %s", st[0].msg.c_str());
  }
}

// The registry (spec/algorithms.json → common/gen/algorithms.h) is what names() and find() list:
// every inter-host entry is found under its collective and its v-variant, in registry order, and
// every collective with an entry runs (the sweeps above iterate names(), so each entry is exercised).
void test_registry() {
  g_case = "registry";
  size_t inter = 0;
  for (size_t i = 0; i < algo::kNumAlgorithms; i++) {
    const algo::AlgoInfo& a = algo::kAlgorithms[i];
    CHECK(size_t(a.id) == i, "%s: id %u at index %zu", a.name, unsigned(a.id), i);
    CHECK(algo::find(a.coll, a.name) == &a, "find(%s, %s)", coll_name(a.coll), a.name);
    CHECK(a.transports != 0 && a.cost_formula[0] != 0, "%s: transports and cost formula", a.name);
    if (a.kind != algo::AlgoKind::kInter) continue;
    inter++;
    CHECK(a.transports & algo::kTransportMem, "%s %s: inter-host algorithms run on mem (tested here)",
          coll_name(a.coll), a.name);
    auto n = algo::names(a.coll);
    CHECK(std::find(n.begin(), n.end(), a.name) != n.end(), "names(%s) lacks %s", coll_name(a.coll), a.name);
  }
  size_t listed = 0;
  for (Coll c : {Coll::allreduce, Coll::allgather, Coll::broadcast, Coll::reduce_scatter, Coll::reduce, Coll::alltoall,
                 Coll::barrier, Coll::gather, Coll::scatter})
    listed += algo::names(c).size();
  CHECK(listed == inter, "names() lists %zu algorithms, the registry %zu", listed, inter);
  CHECK(algo::names(Coll::allgatherv) == algo::names(Coll::allgather), "allgatherv runs allgather's algorithms");
  CHECK(algo::names(Coll::reduce_scatterv) == algo::names(Coll::reduce_scatter), "reduce_scatterv");
  CHECK(algo::names(Coll::alltoallv) == algo::names(Coll::alltoall), "alltoallv");
}

void test_concurrent_tags() {
  g_case = "concurrent collectives on distinct tags";
  World w(net::create_mem_devices(4));
  const size_t n = 5000;
  std::vector<Bytes> b1(4, Bytes(n * 4)), b2(4, Bytes(n * 4));
  for (int r = 0; r < 4; ++r) {
    for (size_t i = 0; i < n; ++i) {
      reinterpret_cast<int32_t*>(b1[r].data())[i] = r + 1;
      reinterpret_cast<int32_t*>(b2[r].data())[i] = (r + 1) * 100;
    }
  }
  algo::Options o;
  o.chunk_bytes = 512;
  auto st = w.run([&](int r, net::Comm& c) {
    net::Comm c2 = c;
    c2.tag = c.tag + algo::kTagSpan * 1000;
    Status s2;
    std::thread other([&] { s2 = algo::allreduce_ring(c2, b2[r].data(), n, DType::i32, RedOp::sum, o); });
    Status s1 = algo::allreduce_dbtree(c, b1[r].data(), n, DType::i32, RedOp::sum, o);
    other.join();
    return s1.ok() ? s2 : s1;
  });
  std::string why;
  CHECK(all_ok(st, &why), "%s", why.c_str());
  for (int r = 0; r < 4; ++r) {
    const int32_t* p1 = reinterpret_cast<const int32_t*>(b1[r].data());
    const int32_t* p2 = reinterpret_cast<const int32_t*>(b2[r].data());
    CHECK(std::all_of(p1, p1 + n, [](int32_t v) { return v == 10; }) &&
              std::all_of(p2, p2 + n, [](int32_t v) { return v == 1000; }),
          "rank %d: concurrent results mixed", r);
  }
}

// Non-integer floats: sums now depend on the order, which must be the same on every rank,
// in every run, and for every chunk size.
void test_determinism() {
  for (int P : {3, 5, 8}) {
    World w(net::create_mem_devices(P));
    const size_t n = 4097;
    std::vector<Bytes> in(P, Bytes(n * 4));
    for (int r = 0; r < P; ++r) {
      for (size_t i = 0; i < n; ++i)
        reinterpret_cast<float*>(in[r].data())[i] = float(mix(r * 100000 + i) % 1000003) / 997.0f - 500.0f;
    }
    for (const auto& name : algo::names(Coll::allreduce)) {
      g_case = "determinism allreduce/" + name + " P=" + std::to_string(P);
      Bytes first;
      for (size_t chunk : {size_t(1000), size_t(1) << 20}) {
        std::vector<Bytes> buf = in;
        algo::Options o;
        o.chunk_bytes = chunk;
        o.inflight = chunk < 4096 ? 1 : 4;  // one receive ahead must not deadlock either
        auto st = w.run([&](int r, net::Comm& c) {
          Call call;
          call.buf = buf[r].data();
          call.count = n;
          call.dt = DType::f32;
          return algo::run(name, c, call, o);
        });
        std::string why;
        CHECK(all_ok(st, &why), "%s", why.c_str());
        for (int r = 1; r < P; ++r) CHECK(buf[r] == buf[0], "rank %d's bits differ from rank 0's", r);
        if (first.empty()) first = buf[0];
        CHECK(buf[0] == first, "chunk_bytes %zu changed the result", chunk);
      }
    }
  }
}

// ---- sweeps -----------------------------------------------------------------------------------

using MakeWorld = std::function<std::vector<std::unique_ptr<net::Device>>(int)>;

void sweep(const MakeWorld& make, const std::vector<int>& sizes, bool full) {
  for (int P : sizes) {
    World w(make(P));
    if (w.P != P) continue;  // the backend failed to start (already a CHECK failure)
    for (size_t n : kCounts) {
      if (!full && n > 4097) continue;
      for (DType dt : kDTypes) {
        for (RedOp op : kOps) {
          if (!op_ok(dt, op) || (n > 4097 && !big_pair(dt, op))) continue;
          if (!full && !big_pair(dt, op)) continue;
          for (const auto& name : algo::names(Coll::allreduce)) test_allreduce(w, name, n, dt, op);
          for (int kind = 0; kind < 4; ++kind) {
            if (kind != 0 && n > 4097) continue;
            Layout l = layout(P, n > 4097 ? n / P : n, kind);
            // Every dtype × op on the uneven layouts; the rest on a few pairs.
            if (kind == 1 || kind == 2 || big_pair(dt, op)) {
              for (const auto& name : algo::names(Coll::reduce_scatter)) test_reduce_scatter(w, name, l, dt, op, kind);
            }
          }
          if (big_pair(dt, op)) {
            const int roots = n > 4097 ? 1 : P;
            for (int root = 0; root < roots; ++root) test_reduce(w, n, dt, op, (root * 5 + n) % P);
          } else if (n <= 4097) {
            test_reduce(w, n, dt, op, int(n % P));
          }
        }
      }
      for (DType dt : {DType::u8, DType::bf16, DType::f64}) {
        for (int kind = 0; kind < 4; ++kind) {
          if (kind != 0 && n > 4097) continue;
          Layout l = layout(P, n > 4097 ? n / P : n, kind);
          for (const auto& name : algo::names(Coll::allgather)) test_allgather(w, name, l, dt, kind);
        }
      }
      for (const auto& name : algo::names(Coll::broadcast)) {
        const int roots = n > 4097 ? std::min(P, 2) : P;
        for (int root = 0; root < roots; ++root) test_broadcast(w, name, n * 3, n > 4097 ? P - 1 - root : root);
      }
      if (n <= 4097) {
        test_alltoall(w, n, false);
        test_alltoall(w, n, true);
      }
    }
    test_barrier(w);
  }
}

// ---- informational throughput -----------------------------------------------------------------

void throughput(const char* backend, const MakeWorld& make, int P, size_t bytes) {
  World w(make(P));
  const size_t n = bytes / 4;
  std::vector<Bytes> buf(P, Bytes(bytes, 0));
  algo::Options o;
  auto time_it = [&](const char* coll, const std::string& name, double busfactor,
                     const std::function<Status(int, net::Comm&)>& fn) {
    w.run(fn);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    auto st = w.run(fn);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string why;
    g_case = std::string("throughput ") + coll + "/" + name;
    CHECK(all_ok(st, &why), "%s", why.c_str());
    std::printf("  %-4s P=%d %-15s %-13s %6.1f ms  algbw %6.2f GB/s  busbw %6.2f GB/s\n", backend, P, coll,
                name.c_str(), s * 1e3, bytes / s / 1e9, bytes / s / 1e9 * busfactor);
  };
  const double f = double(P - 1) / P;
  for (const auto& name : algo::names(Coll::allreduce)) {
    time_it("allreduce", name, 2 * f, [&](int r, net::Comm& c) {
      return name == "ring"     ? algo::allreduce_ring(c, buf[r].data(), n, DType::f32, RedOp::sum, o)
             : name == "dbtree" ? algo::allreduce_dbtree(c, buf[r].data(), n, DType::f32, RedOp::sum, o)
                                : algo::allreduce_rabenseifner(c, buf[r].data(), n, DType::f32, RedOp::sum, o);
    });
  }
  std::vector<size_t> counts(P, n / P), displs(P);
  for (int i = 0; i < P; ++i) displs[i] = i * (n / P);
  for (const auto& name : algo::names(Coll::allgather)) {
    time_it("allgather", name, f, [&](int r, net::Comm& c) {
      Call call{Coll::allgather, buf[r].data(), nullptr, 0, counts, displs};
      call.dt = DType::f32;
      return algo::run(name, c, call, o);
    });
  }
  for (const auto& name : algo::names(Coll::reduce_scatter)) {
    time_it("reduce_scatter", name, f, [&](int r, net::Comm& c) {
      Call call{Coll::reduce_scatter, buf[r].data(), nullptr, 0, counts, displs};
      call.dt = DType::f32;
      return algo::run(name, c, call, o);
    });
  }
  for (const auto& name : algo::names(Coll::broadcast)) {
    time_it("broadcast", name, 1, [&](int r, net::Comm& c) {
      Call call{Coll::broadcast, buf[r].data(), nullptr, bytes};
      return algo::run(name, c, call, o);
    });
  }
  time_it("reduce", "binomial", 1, [&](int r, net::Comm& c) {
    return algo::reduce_binomial(c, buf[r].data(), n, DType::f32, RedOp::sum, 0, o);
  });
}

std::vector<std::unique_ptr<net::Device>> mem_world(int P) { return net::create_mem_devices(P); }

// P tcp devices on 127.0.0.1, connected in a full mesh by P threads (as P hosts would).
std::vector<std::unique_ptr<net::Device>> tcp_world(int P) {
  g_case = "tcp world of " + std::to_string(P);
  std::vector<std::unique_ptr<net::Device>> d(P);
  std::vector<std::string> addrs;
  for (int r = 0; r < P; ++r) {
    Status s = net::create_tcp_device(net::TcpOptions{}, &d[r]);
    CHECK(s.ok(), "create_tcp_device: %s", s.msg.c_str());
    if (!s.ok()) return {};
    addrs.push_back(d[r]->address());
  }
  std::vector<Status> st(P);
  std::vector<std::thread> th;
  const int64_t deadline = net::now_ms() + 20000;
  for (int r = 0; r < P; ++r) th.emplace_back([&, r] { st[r] = d[r]->connect(r, addrs, deadline); });
  for (auto& t : th) t.join();
  std::string why;
  CHECK(all_ok(st, &why), "connect: %s", why.c_str());
  if (!why.empty()) return {};
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  alarm(600);  // a hang is a failure, never a stuck CI job
  const bool bench = !(argc > 1 && std::strcmp(argv[1], "--no-bench") == 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto lap = [&](const char* what) {
    std::printf("%-46s %6.1f s  (%ld checks, %ld failed)\n", what,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), g_checks.load(),
                g_failures.load());
    std::fflush(stdout);
  };
  test_mem_transport();
  lap("mem transport invariants");
  test_registry();
  test_bad_calls();
  test_concurrent_tags();
  lap("registry, bad calls, concurrent tags");
  test_timeouts();
  lap("deadlines (one rank never calls)");
  test_determinism();
  lap("determinism (non-integer floats)");
  sweep(mem_world, {1, 2, 3, 4, 5, 6, 7, 8, 9}, true);
  lap("mem sweep, world sizes 1..9");
  sweep(tcp_world, {1, 2, 3, 5}, false);
  lap("tcp sweep (127.0.0.1), world sizes 1,2,3,5");
  if (bench) {
    std::printf("throughput (informational; threads as ranks on this machine's cores, 16 MiB f32):\n");
    throughput("mem", mem_world, 4, 16u << 20);
    throughput("mem", mem_world, 8, 16u << 20);
    throughput("tcp", tcp_world, 4, 16u << 20);
    lap("throughput");
  }
  std::printf("algo_test: %ld checks, %ld failed\n", g_checks.load(), g_failures.load());
  return g_failures.load() == 0 ? 0 : 1;
}
