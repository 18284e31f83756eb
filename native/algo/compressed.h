// Allreduce with compression inside the collective (docs/compression.md). Two schemes, chosen by
// measurement (the table in docs/compression.md):
//  - zring: the ring with every hop's chunk sent as a codec frame. The reduce-scatter re-quantises each
//    partial sum per hop (P−1 encodes of a block), the owner of a fully reduced block encodes it once
//    more, and the allgather forwards that frame unchanged: every host, the owner included, decodes the
//    same bytes, so results are identical everywhere. Lossless codecs give the ring's exact bits.
//  - zgather: compress once, gather: every host encodes its own vector once, sends the frames to every
//    other host, and every host decodes all H frames and reduces them in host order (the one-shot
//    allreduce's scheme). One quantisation per input, (H−1)·S/ratio bytes sent per host: what top-k
//    needs (re-sparsifying partial sums loses most of them) and what small vectors take.
// Both send a 32-byte frame header on tag+0 and the payload on tag+1 (lossless frames vary in size),
// chunk by chunk, so encoding chunk k+1 overlaps the network carrying chunk k.
// Error feedback: `residual` (count floats, lossy f32 only, may be null) receives, per element, the
// error this host's own encodes introduced (value − decode(frame)); zero where it encoded nothing.
// The caller adds it to the next call's input, so across hosts the sum of the errors is fed back.
#pragma once
#include "algo/algo.h"
#include "codec/codec.h"

namespace onet::algo {

struct ZStats {
  uint64_t raw_bytes = 0, sent_bytes = 0;  // bytes this host would have sent uncompressed, and sent
};

Status allreduce_zring(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const codec::Spec& z, float* residual,
                       const Options& o, ZStats* stats);
Status allreduce_zgather(net::Comm& c, void* buf, size_t count, DType dt, RedOp op, const codec::Spec& z,
                         float* residual, const Options& o, ZStats* stats);

}  // namespace onet::algo
