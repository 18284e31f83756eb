// The step vocabulary shared by every algorithm (see steps.h).
#include "algo/steps.h"

#include "reduce/reduce.h"

namespace onet::algo::detail {

Status at(const std::string& where, Status s) {
  if (!s.ok()) s.msg = where + ": " + s.msg;
  return s;
}

Status wait_all(net::Comm& c, std::vector<Req>& reqs) {
  for (auto& r : reqs) {
    if (!r) continue;
    Status s = r->wait(c.deadline_ms);
    if (!s.ok()) return s;
    r.reset();
  }
  reqs.clear();
  return Status::Ok();
}

Status sendrecv(net::Comm& c, int to, const void* sbuf, size_t sbytes, int from, void* rbuf, size_t rbytes,
                uint64_t tag) {
  Req rr = c.pairs[from]->irecv(rbuf, rbytes, tag);
  Req sr = c.pairs[to]->isend(sbuf, sbytes, tag);
  Status s = rr->wait(c.deadline_ms);
  if (!s.ok()) return s;
  return sr->wait(c.deadline_ms);
}

Status reduce2(RedOp op, DType dt, void* inout, const void* other, size_t n) {
  if (n == 0) return Status::Ok();
  const void* in[2] = {inout, other};
  return reduce::reduce(op, dt, inout, in, 2, n, 1.0, 2);
}

std::vector<Block> split(size_t count, int parts) {
  std::vector<Block> b(parts);
  const size_t q = count / parts, extra = count % parts;
  size_t off = 0;
  for (int i = 0; i < parts; ++i) {
    b[i].off = off;
    b[i].n = q + (size_t(i) < extra ? 1 : 0);
    off += b[i].n;
  }
  return b;
}

Fold make_fold(int size) {
  Fold f;
  while (f.pof2 * 2 <= size) f.pof2 *= 2;
  f.rem = size - f.pof2;
  return f;
}

}  // namespace onet::algo::detail
