// Internals of the hierarchical algorithm, shared by its files (not part of its surface, hier.h):
// util.cc (staging, range checks, local fold), agree.cc (the header round), inter.cc (the
// inter-host algorithm by size rule), reduce.cc (allreduce, reduce, reduce_scatter), oneshot.cc,
// fuse.cc, move.cc (broadcast, gathers, scatter, alltoall, barrier) and run.cc (run_cross).
#pragma once
#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "algo/algo.h"
#include "algo/hier/hier.h"
#include "reduce/reduce.h"

namespace onet::cross {

struct Hdr {  // what every host must agree on; compared field by field
  uint32_t coll, dtype, redop;
  int32_t root;
  uint64_t count, seq;
  double scale;
  uint64_t counts_hash;  // v-variants: hash of the per-rank count vector
  uint64_t rules_hash;   // the algorithm rules: hosts configured differently must not run different algorithms
  uint32_t bad;          // nonzero (a Code): this host's ranks made an invalid call; the others must not wait
  uint32_t reserved;
};

std::string label(const CrossJob& j);  // "allreduce #7"
RedOp local_op(RedOp op);              // what the local fold applies (avg → sum)
RedOp inter_op(RedOp op);              // what hosts combine with (avg, premul_sum → sum)
uint64_t fnv(const std::vector<uint64_t>& v);
uint64_t hash_rules(const std::vector<AlgoRule>& rules);
std::string ranks_of(const std::vector<int>& granks, const CrossJob& j);
char* stage(CrossJob& j, size_t bytes);
void recycle(CrossJob& j);
Status wait_joined(CrossJob& j, std::vector<std::unique_ptr<net::Request>>& rq);
Status compare(const CrossJob& j, const Hdr& mine, const Hdr* theirs);
Status agree(CrossJob& j, const Hdr& mine);
Status at(const CrossJob& j, const CrossPart& p, uint64_t off, uint64_t elems, const char* what, char** out);
const AlgoRule* pick(CrossJob& j, Coll c, uint64_t bytes);
Status inter_allreduce(CrossJob& j, void* buf, uint64_t n, RedOp op);
Status inter_allgatherv(CrossJob& j, void* buf, const std::vector<size_t>& counts, const std::vector<size_t>& displs);
Status inter_broadcast(CrossJob& j, void* buf, uint64_t bytes, int root_host);
Status inter_reduce_scatter(CrossJob& j, void* buf, const std::vector<size_t>& counts,
                            const std::vector<size_t>& displs, RedOp op);
Status fold(const CrossJob& j, char* dst, const std::vector<const char*>& ins, uint64_t n);
Status finish_avg(const CrossJob& j, char* buf, uint64_t n);
bool contiguous(const CrossJob& j);
Status rank_counts(const CrossJob& j, std::vector<uint64_t>* counts);
Status rank_layout(const CrossJob& j, std::vector<uint64_t>* c, std::vector<uint64_t>* d);
int host_of(const CrossJob& j, int grank);
Status check_local(const CrossJob& j);  // every local buffer fits its arena, before any byte moves

Status run_allreduce(CrossJob& j);
bool oneshot(const CrossJob& j);
// Compression (compressed.cc): whether this call's allreduce runs compressed, and running it in place of
// inter_allreduce (the scheme per size and codec; docs/compression.md).
bool compressed(const CrossJob& j);
Status inter_allreduce_compressed(CrossJob& j, void* buf, uint64_t n, RedOp op);
Status run_allreduce_oneshot(CrossJob& j, const Hdr& mine);
Status buffers(const CrossJob& j, uint64_t n, std::vector<const char*>* ins, std::vector<char*>* outs);
// Fusion in the one-shot round (fuse.cc). Each host's one-shot data message starts
// with its Advert: the collectives it offers to fuse behind the lead (no extra message, so an
// allreduce that fuses nothing costs 264 bytes more, never another frame or round).
struct Advert {
  uint32_t n, reserved;
  uint32_t counts[kMaxFused];  // element counts of #seq+1, #seq+2, … (one-shot sizes fit in 32 bits)
  uint32_t pad;
};
static_assert(sizeof(Advert) == 264, "the advert is 264 bytes on the wire (8-byte aligned data after it)");
void offer_fusion(const CrossJob& j, Advert* mine);
// After the lead's round: the longest common prefix of every host's advert (ad(h) = base + h·stride)
// is fused; exchange and reduce its members. Sets j.fused.
Status run_fused(CrossJob& j, const char* base, size_t stride);
Status run_reduce(CrossJob& j);
Status run_reduce_scatter(CrossJob& j);
Status run_broadcast(CrossJob& j);
Status run_allgather(CrossJob& j);
Status run_gather_scatter(CrossJob& j);
Status run_alltoall(CrossJob& j);
Status run_barrier(CrossJob& j);

}  // namespace onet::cross
