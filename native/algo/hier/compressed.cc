// The inter-host phase of a compressed allreduce (docs/compression.md): which scheme runs, with error
// feedback around it. Chosen from the codec, the size and the rules' algorithm, identically on every host
// (the header carries the codec, so hosts that disagree fail with kMismatch before any frame moves):
//  - top-k, and any vector the one-shot allreduce would take ((H−1)·S ≤ its limit): compress once and
//    gather (zgather; one quantisation per input; lossless codecs give the one-shot's bits);
//  - otherwise the compressed ring (zring), in place of ring; in place of dbtree/rabenseifner too for the
//    lossy codecs, while the lossless ones leave those uncompressed (bit-identical to off means the same
//    association order, and only the ring has a compressed twin yet).
// Error feedback (lossy, when the engine gave a residual): the residual of the last call with this
// (group, key) is added to this host's folded input, and the algorithm writes the new one.
#include "algo/compressed.h"

#include "algo/hier/internal.h"

namespace onet::cross {

bool compressed(const CrossJob& j) {
  return j.coll == Coll::allreduce && j.comm.size > 1 && j.count > 0 && codec::applies(j.codec, j.dt, j.op);
}

Status inter_allreduce_compressed(CrossJob& j, void* buf, uint64_t n, RedOp op) {
  algo::Options o;
  const AlgoRule* r = pick(j, Coll::allreduce, n * dtype_size(j.dt));
  if (r && r->chunk_bytes) o.chunk_bytes = r->chunk_bytes;
  const std::string rule = r ? r->algo : "ring";
  const bool small = n * dtype_size(j.dt) * uint64_t(j.comm.size - 1) <= algo::kOneShotMaxSentBytes;
  const bool lossless = codec::is_lossless(j.codec.kind);
  if (lossless && !small && rule != "ring") return inter_allreduce(j, buf, n, op);  // keeps off's exact bits
  if (!codec::available(j.codec.kind)) {
    std::string why;
    codec::available(j.codec.kind, &why);
    return {Code::kUnsupported, why};
  }
  float* res = nullptr;
  if (!lossless && j.residual) {
    std::vector<float>& rv = *j.residual;
    if (rv.size() != n) rv.assign(n, 0.0f);  // a new key, or the tensor changed size: start from zero
    float* x = static_cast<float*>(buf);
    for (uint64_t i = 0; i < n; i++) x[i] += rv[i];
    res = rv.data();
  }
  algo::ZStats zs;
  const bool gather = small || j.codec.kind == codec::Kind::topk;
  j.chosen = "allreduce:" + std::string(gather ? "gather" : "ring") + "+" + codec::name(j.codec);
  if (j.z_auto) j.chosen += " (" + j.z_why + ")";
  Status st = gather ? algo::allreduce_zgather(j.comm, buf, n, j.dt, op, j.codec, res, o, &zs)
                     : algo::allreduce_zring(j.comm, buf, n, j.dt, op, j.codec, res, o, &zs);
  j.z_raw_bytes += zs.raw_bytes;
  j.z_sent_bytes += zs.sent_bytes;
  return st;
}

}  // namespace onet::cross
