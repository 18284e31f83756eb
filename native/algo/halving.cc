// Fold + recursive halving / doubling, shared by Rabenseifner allreduce, recursive-halving
// reduce-scatter and recursive-doubling allgather (steps.h, struct Fold).
#include "algo/steps.h"

namespace onet::algo::detail {

Status halving(net::Comm& c, const Fold& f, int nr, char* buf, char* tmp, const std::vector<size_t>& bounds, DType dt,
               RedOp op, uint64_t tag, const std::string& what) {
  const size_t es = dtype_size(dt);
  int lo = 0, hi = f.pof2, step = 0;
  for (int m = f.pof2 / 2; m >= 1; m >>= 1, ++step) {
    const int mid = lo + m;
    const bool upper = (nr & m) != 0;
    const int klo = upper ? mid : lo, khi = upper ? hi : mid;  // kept half
    const int glo = upper ? lo : mid, ghi = upper ? mid : hi;  // given half
    const size_t kn = bounds[khi] - bounds[klo], gn = bounds[ghi] - bounds[glo];
    const int peer = f.oldrank(nr ^ m);
    if (kn || gn) {  // the partner computes the same two sizes, swapped
      Status s = sendrecv(c, peer, buf + bounds[glo] * es, gn * es, peer, tmp, kn * es, tag + step);
      if (s.ok()) s = reduce2(op, dt, buf + bounds[klo] * es, tmp, kn);
      if (!s.ok()) return at(what + " halving step " + std::to_string(step) + " with " + std::to_string(peer), s);
    }
    lo = klo;
    hi = khi;
  }
  return Status::Ok();
}

Status doubling(net::Comm& c, const Fold& f, int nr, char* buf, const std::vector<size_t>& bounds, size_t esize,
                uint64_t tag, const std::string& what) {
  int lo = nr, hi = nr + 1, step = 0;
  for (int m = 1; m < f.pof2; m <<= 1, ++step) {
    const bool upper = (nr & m) != 0;
    const int plo = upper ? lo - m : hi, phi = upper ? lo : hi + m;  // the partner's window
    const size_t mn = bounds[hi] - bounds[lo], pn = bounds[phi] - bounds[plo];
    const int peer = f.oldrank(nr ^ m);
    if (mn || pn) {
      Status s = sendrecv(c, peer, buf + bounds[lo] * esize, mn * esize, peer, buf + bounds[plo] * esize, pn * esize,
                          tag + step);
      if (!s.ok()) return at(what + " doubling step " + std::to_string(step) + " with " + std::to_string(peer), s);
    }
    lo = std::min(lo, plo);
    hi = std::max(hi, phi);
  }
  return Status::Ok();
}

}  // namespace onet::algo::detail
