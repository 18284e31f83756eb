// The matching rules (native/engine/match.h) on fake ranks: plain structs, no engine, no shared
// memory, no threads. For world sizes 1, 2, 3, 5, 8 and every collective: agreeing posts match;
// each kind of disagreement (collective, dtype, reduce op, root, count, premul_sum factor) is
// EMISMATCH naming the two ranks; each kind of bad post (unknown collective, dtype, reduce op;
// unsupported op × dtype; root or peer outside the group; send to itself; a sequence number
// that does not increase) is EINVAL/ENOTSUP naming the rank; send/recv pairs check dtype and
// size. Exit status is non-zero when any CHECK failed.
#include <cstdio>
#include <string>
#include <vector>

#include "engine/match.h"

using namespace onet;
using match::Post;

namespace {

long g_checks = 0, g_failures = 0;
std::string g_case;

#define CHECK(cond, ...)                                                                         \
  do {                                                                                           \
    ++g_checks;                                                                                  \
    if (!(cond)) {                                                                               \
      if (++g_failures <= 40) {                                                                  \
        std::fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, g_case.c_str(), #cond); \
        std::fprintf(stderr, __VA_ARGS__);                                                       \
        std::fprintf(stderr, "\n");                                                              \
      }                                                                                          \
    }                                                                                            \
  } while (0)

const int kWorlds[] = {1, 2, 3, 5, 8};
const Coll kColls[] = {Coll::allreduce,  Coll::reduce,         Coll::broadcast,       Coll::allgather,
                       Coll::allgatherv, Coll::reduce_scatter, Coll::reduce_scatterv, Coll::alltoall,
                       Coll::alltoallv,  Coll::gather,         Coll::scatter,         Coll::barrier};

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

// P ranks (global rank = 10 + group rank, so the two numberings never coincide) posting the
// same call: an f32 op on 4097 elements, root P-1.
std::vector<Post> same_call(int P, Coll c, uint64_t seq) {
  std::vector<Post> v(P);
  for (int g = 0; g < P; g++) {
    Post& p = v[g];
    p.rank = 10 + g;
    p.coll = uint32_t(c);
    p.dtype = uint32_t(DType::f32);
    p.redop = uint32_t(RedOp::sum);
    p.root = P - 1;
    p.seq = seq;
    p.count = 4097;
  }
  return v;
}

void expect_ranks(const Status& v, std::vector<int> want) {
  CHECK(v.ranks == want, "ranks: got %zu entries (first %d), want %zu (first %d); %s", v.ranks.size(),
        v.ranks.empty() ? -1 : v.ranks[0], want.size(), want.empty() ? -1 : want[0], v.msg.c_str());
}

void test_agreement(int P) {
  for (Coll c : kColls) {
    g_case = "P=" + std::to_string(P) + " " + coll_name(c);
    auto posts = same_call(P, c, 7);
    for (int g = 0; g < P; g++) CHECK(match::validate(posts[g], P, g).ok(), "valid post rejected");
    CHECK(match::agree(posts, 7).ok(), "agreeing posts rejected: %s", match::agree(posts, 7).msg.c_str());
    // Not every rank arrived (a cross-host group's remote members, or a late rank): still agrees.
    for (int g = 0; g < P; g += 2) posts[g].rank = -1;
    CHECK(match::agree(posts, 7).ok(), "partial arrivals rejected");
    if (P < 2) continue;
    // Every disagreement, at the last rank, against the first (rank 10).
    const int last = P - 1, r_last = 10 + last;
    struct Kind {
      const char* name;
      void (*bend)(Post&);
      bool applies;
      const char* words;
    };
    const bool red = match::is_reducing(c), rooted = match::is_rooted(c), counted = match::count_checked(c);
    const Kind kinds[] = {
        {"coll",
         [](Post& p) { p.coll = uint32_t(p.coll == uint32_t(Coll::barrier) ? Coll::allreduce : Coll::barrier); }, true,
         "called"},
        {"dtype", [](Post& p) { p.dtype = uint32_t(DType::i64); }, c != Coll::barrier, "dtype differs"},
        {"redop", [](Post& p) { p.redop = uint32_t(RedOp::max); }, red, "reduce op differs"},
        {"root", [](Post& p) { p.root = 0; }, rooted, "root differs"},
        {"count", [](Post& p) { p.count = 1; }, counted, "count differs"},
    };
    for (const Kind& k : kinds) {
      g_case = "P=" + std::to_string(P) + " " + coll_name(c) + " " + k.name;
      auto v = same_call(P, c, 7);
      k.bend(v[last]);
      Status r = match::agree(v, 7);
      if (!k.applies) {
        CHECK(r.ok(), "a field this collective ignores was compared: %s", r.msg.c_str());
        continue;
      }
      CHECK(r.code == Code::kMismatch, "code %d", int(r.code));
      CHECK(contains(r.msg, k.words) && contains(r.msg, "#7") && contains(r.msg, "rank 10") &&
                contains(r.msg, "rank " + std::to_string(r_last)) &&
                contains(r.msg, "every rank must make the same collective call"),
            "message: %s", r.msg.c_str());
      expect_ranks(r, {10, r_last});
      // The first rank absent: the comparison starts at the first that arrived.
      v[0].rank = -1;
      if (P > 2) expect_ranks(match::agree(v, 7), {11, r_last});
    }
    if (red) {  // premul_sum factors compare only for premul_sum
      g_case = "P=" + std::to_string(P) + " " + coll_name(c) + " scale";
      auto v = same_call(P, c, 7);
      v[last].scale = 0.5;
      CHECK(match::agree(v, 7).ok(), "sum compared the premul_sum factor");
      for (auto& p : v) p.redop = uint32_t(RedOp::premul_sum);
      Status r = match::agree(v, 7);
      CHECK(r.code == Code::kMismatch && contains(r.msg, "premul_sum factor differs"), "%s", r.msg.c_str());
      expect_ranks(r, {10, r_last});
    }
  }
}

void test_validate(int P) {
  g_case = "P=" + std::to_string(P) + " validate";
  auto expect = [&](Post p, int grank, Code code, const char* words) {
    Status v = match::validate(p, P, grank);
    CHECK(v.code == code, "%s: code %d want %d (%s)", words, int(v.code), int(code), v.msg.c_str());
    CHECK(contains(v.msg, words) && contains(v.msg, "rank " + std::to_string(p.rank)), "%s: %s", words, v.msg.c_str());
    expect_ranks(v, {p.rank});
  };
  const int g = P - 1;
  Post base = same_call(P, Coll::allreduce, 3)[g];
  Post p = base;
  p.coll = 0;
  expect(p, g, Code::kInvalid, "unknown collective 0");
  p.coll = 99;
  expect(p, g, Code::kInvalid, "unknown collective 99");
  p = base;
  p.dtype = 8;
  expect(p, g, Code::kInvalid, "unknown dtype 8");
  p = base;
  p.redop = kNumRedOps;
  expect(p, g, Code::kInvalid, "unknown reduce op");
  p = base;
  p.redop = uint32_t(RedOp::bxor);  // bitwise ops are for integers
  expect(p, g, Code::kUnsupported, "allreduce #3");
  p.dtype = uint32_t(DType::i32);
  CHECK(match::validate(p, P, g).ok(), "bxor on i32 rejected");
  // A barrier carries no dtype: any value passes.
  p = base;
  p.coll = uint32_t(Coll::barrier);
  p.dtype = 99;
  CHECK(match::validate(p, P, g).ok(), "barrier dtype checked");
  for (Coll c : {Coll::reduce, Coll::broadcast, Coll::gather, Coll::scatter}) {
    p = base;
    p.coll = uint32_t(c);
    p.root = P;
    expect(p, g, Code::kInvalid, "outside the group");
    p.root = -1;
    expect(p, g, Code::kInvalid, "named root -1");
  }
  // Point-to-point: the peer in range, never itself; recv may name -1 (any source).
  p = base;
  p.coll = uint32_t(Coll::send);
  p.root = P;
  expect(p, g, Code::kInvalid, "sends to rank");
  p.root = -1;
  expect(p, g, Code::kInvalid, "sends to rank -1");
  p.root = g;
  expect(p, g, Code::kInvalid, "itself");
  p.coll = uint32_t(Coll::recv);
  p.root = -1;
  CHECK(match::validate(p, P, g).ok(), "recv from any source rejected");
  p.root = P;
  expect(p, g, Code::kInvalid, "receives from rank");
  p.root = g;
  expect(p, g, Code::kInvalid, "itself");
  if (P > 1) {
    p.root = 0;
    CHECK(match::validate(p, P, g).ok(), "recv from rank 0 rejected");
    p.coll = uint32_t(Coll::send);
    CHECK(match::validate(p, P, g).ok(), "send to rank 0 rejected");
  }
  // Sequence numbers increase per rank.
  p = base;
  CHECK(match::check_seq(p, 2).ok(), "seq 3 after 2 rejected");
  CHECK(match::check_seq(p, 0).ok(), "first seq rejected");
  for (uint64_t last : {uint64_t(3), uint64_t(9)}) {
    Status v = match::check_seq(p, last);
    CHECK(v.code == Code::kInvalid && contains(v.msg, "posted sequence 3 after " + std::to_string(last)), "%s",
          v.msg.c_str());
    expect_ranks(v, {p.rank});
  }
}

void test_pairs() {
  g_case = "send/recv";
  Post sd = same_call(2, Coll::send, 0)[0], rv = same_call(2, Coll::recv, 0)[1];
  sd.root = 1;
  rv.root = 0;
  CHECK(match::check_pair(sd, rv).ok(), "equal send/recv rejected");
  rv.count = sd.count + 1;
  CHECK(match::check_pair(sd, rv).ok(), "a larger recv buffer rejected");
  rv.count = sd.count - 1;
  Status v = match::check_pair(sd, rv);
  CHECK(v.code == Code::kInvalid && contains(v.msg, "post a larger recv"), "%s", v.msg.c_str());
  expect_ranks(v, {10, 11});
  rv.count = sd.count;
  rv.dtype = uint32_t(DType::f64);
  v = match::check_pair(sd, rv);
  CHECK(v.code == Code::kMismatch && contains(v.msg, "f32 sent, f64 expected"), "%s", v.msg.c_str());
  expect_ranks(v, {10, 11});
  sd.count = 0;  // an empty send still checks its dtype
  CHECK(match::check_pair(sd, rv).code == Code::kMismatch, "empty send skipped the dtype check");
}

}  // namespace

int main() {
  for (int P : kWorlds) {
    test_agreement(P);
    test_validate(P);
  }
  test_pairs();
  std::printf("matcher_test: %ld checks, %ld failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
