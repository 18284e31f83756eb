// The matching rules (match.h). Pure: the same inputs give the same verdict on every host, so a
// mismatch is reported with the same words to every rank.
#include "engine/match.h"

#include <sstream>

#include "reduce/reduce.h"

namespace onet::match {

bool is_rooted(Coll c) { return c == Coll::reduce || c == Coll::broadcast || c == Coll::gather || c == Coll::scatter; }
bool is_reducing(Coll c) {
  return c == Coll::allreduce || c == Coll::reduce || c == Coll::reduce_scatter || c == Coll::reduce_scatterv;
}
bool count_checked(Coll c) {
  return c != Coll::allgatherv && c != Coll::reduce_scatterv && c != Coll::alltoallv && c != Coll::barrier;
}
std::string op_label(Coll c, uint64_t seq) { return std::string(coll_name(c)) + " #" + std::to_string(seq); }

namespace {

Status fail(Code code, std::string msg, std::vector<int> ranks) {
  return Status(code, std::move(msg), std::move(ranks));
}

}  // namespace

Status validate(const Post& s, int P, int grank) {
  auto me = [&] { return "rank " + std::to_string(s.rank); };
  auto bad = [&](const std::string& m) { return fail(Code::kInvalid, m, {s.rank}); };
  if (s.coll < uint32_t(Coll::allreduce) || s.coll > uint32_t(Coll::recv))
    return bad(me() + " posted unknown collective " + std::to_string(s.coll) + " (protocol v1 knows 1..14)");
  Coll c = Coll(s.coll);
  auto head = [&] { return op_label(c, s.seq) + ": " + me() + " "; };
  if (c != Coll::barrier && !dtype_valid(s.dtype))
    return bad(head() + "posted unknown dtype " + std::to_string(s.dtype) + " (0..7: f32 f64 f16 bf16 i8 u8 i32 i64)");
  if (is_reducing(c) && s.redop >= kNumRedOps)
    return bad(head() + "posted unknown reduce op " + std::to_string(s.redop) + " (0..8)");
  if (is_reducing(c)) {
    // Ask the kernels whether they support op × dtype (an empty reduce validates only).
    const char dummy[8] = {};
    const void* in[1] = {dummy};
    Status st = reduce::reduce(RedOp(s.redop), DType(s.dtype), nullptr, in, 1, 0, s.scale, 1);
    if (!st.ok()) return fail(Code::kUnsupported, head() + st.msg, {s.rank});
  }
  if (is_rooted(c) && (s.root < 0 || s.root >= P))
    return bad(head() + "named root " + std::to_string(s.root) + ", outside the group of " + std::to_string(P));
  if (c == Coll::send && (s.root < 0 || s.root >= P))
    return bad(head() + "sends to rank " + std::to_string(s.root) + ", outside the group of " + std::to_string(P));
  if (c == Coll::recv && (s.root < -1 || s.root >= P))
    return bad(head() + "receives from rank " + std::to_string(s.root) + ", outside the group of " + std::to_string(P));
  if ((c == Coll::send || c == Coll::recv) && s.root == grank)
    return bad(head() + "sends to or receives from itself; copy locally instead");
  return Status::Ok();
}

Status check_seq(const Post& p, uint64_t last) {
  if (p.seq > last) return Status::Ok();
  return fail(Code::kInvalid,
              op_label(Coll(p.coll), p.seq) + ": rank " + std::to_string(p.rank) + " posted sequence " +
                  std::to_string(p.seq) + " after " + std::to_string(last) +
                  "; sequence numbers must increase by one per collective",
              {p.rank});
}

Status agree(const std::vector<Post>& by, uint64_t seq) {
  const int P = int(by.size());
  int first = 0;
  while (first < P && by[first].rank < 0) first++;
  if (first == P) return Status::Ok();
  const Post& a = by[first];
  Coll c = Coll(a.coll);
  for (int i = first + 1; i < P; i++) {
    if (by[i].rank < 0) continue;
    const Post& b = by[i];
    // Fast path first (every collective passes here): strings only once a field differs.
    bool differs = b.coll != a.coll || (c != Coll::barrier && b.dtype != a.dtype) ||
                   (is_reducing(c) && b.redop != a.redop) || (is_rooted(c) && b.root != a.root) ||
                   (count_checked(c) && b.count != a.count) ||
                   (is_reducing(c) && a.redop == uint32_t(RedOp::premul_sum) && b.scale != a.scale);
    if (!differs) continue;
    std::string r0 = "rank " + std::to_string(a.rank), ri = "rank " + std::to_string(b.rank);
    std::ostringstream o;
    if (b.coll != a.coll)
      o << "#" << seq << ": " << r0 << " called " << coll_name(c) << ", " << ri << " called "
        << coll_name(Coll(b.coll));
    else if (c != Coll::barrier && b.dtype != a.dtype)
      o << op_label(c, seq) << ": dtype differs: " << r0 << " has " << dtype_name(DType(a.dtype)) << ", " << ri
        << " has " << dtype_name(DType(b.dtype));
    else if (is_reducing(c) && b.redop != a.redop)
      o << op_label(c, seq) << ": reduce op differs: " << r0 << " has " << redop_name(RedOp(a.redop)) << ", " << ri
        << " has " << redop_name(RedOp(b.redop));
    else if (is_rooted(c) && b.root != a.root)
      o << op_label(c, seq) << ": root differs: " << r0 << " has " << a.root << ", " << ri << " has " << b.root;
    else if (count_checked(c) && b.count != a.count)
      o << op_label(c, seq) << ": count differs: " << r0 << " has " << a.count << ", " << ri << " has " << b.count;
    else
      o << op_label(c, seq) << ": premul_sum factor differs: " << r0 << " has " << a.scale << ", " << ri << " has "
        << b.scale;
    o << " — every rank must make the same collective call in the same order";
    return fail(Code::kMismatch, o.str(), {a.rank, b.rank});
  }
  return Status::Ok();
}

Status check_pair(const Post& sd, const Post& rv) {
  std::string label = "send/recv between rank " + std::to_string(sd.rank) + " and rank " + std::to_string(rv.rank);
  if (sd.dtype != rv.dtype)
    return fail(Code::kMismatch,
                label + ": dtype differs (" + dtype_name(DType(sd.dtype)) + " sent, " + dtype_name(DType(rv.dtype)) +
                    " expected)",
                {sd.rank, rv.rank});
  if (sd.count > rv.count)
    return fail(Code::kInvalid,
                label + ": " + std::to_string(sd.count) + " elements sent into a buffer of " +
                    std::to_string(rv.count) + "; post a larger recv",
                {sd.rank, rv.rank});
  return Status::Ok();
}

}  // namespace onet::match
