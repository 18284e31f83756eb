// The matching rules, as pure functions over plain structs: no threads, no shared memory, no
// engine. The progress thread (matcher.cc) copies each arrival's slot into a Post and asks these
// functions; native/tests/matcher_test.cc asks them the same questions about fake ranks.
//   validate(post)         — one arrival on its own: known collective, dtype, reduce op, root/peer
//   check_seq(...)         — sequence numbers increase per rank
//   agree(posts)           — every arrived rank of one (group, seq) made the same call
//   check_pair(send, recv) — a matched send/recv pair fits
// Each returns Status::Ok() or the error every rank of the collective gets, with the ranks to
// blame (global ranks) in Status::ranks. Messages are built only on the error path: validate and
// agree run for every arrival and stay a few nanoseconds on success.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace onet::match {

// One rank's request, the fields of its slot that matching reads.
struct Post {
  int rank = -1;       // global rank; -1: this group rank has not arrived
  uint32_t coll = 0;   // Coll
  uint32_t dtype = 0;  // DType
  uint32_t redop = 0;  // RedOp
  int32_t root = 0;    // group rank of the root; send: destination; recv: source (-1 any)
  uint64_t seq = 0;
  uint64_t count = 0;
  double scale = 1.0;  // premul_sum factor
};

bool is_rooted(Coll c);                      // reduce, broadcast, gather, scatter
bool is_reducing(Coll c);                    // allreduce, reduce, reduce_scatter(v)
bool count_checked(Coll c);                  // every rank passes the same count (not the v-variants, not barrier)
std::string op_label(Coll c, uint64_t seq);  // "allreduce #7"

// One arrival in a group of P ranks, at group rank `grank`.
Status validate(const Post& p, int P, int grank);
// `seq` posted by rank after `last` (0: none yet); sequence numbers must increase.
Status check_seq(const Post& p, uint64_t last);
// The arrived posts of one collective (by group rank; rank < 0 = not arrived) agree on every
// field that must match. The message names the first arrived rank and the first that differs.
Status agree(const std::vector<Post>& by_grank, uint64_t seq);
// A send matched to a recv: same dtype, and the recv buffer holds what was sent.
Status check_pair(const Post& send, const Post& recv);

}  // namespace onet::match
