// The inter-host phase of the hierarchical algorithm: pick the algorithm for this size from the
// rules (the scheduler's table, or the registry's defaultRules), then run it through the registry
// (algo::find → algo::run by id). A name the registry does not know for this collective falls back
// to the collective's first algorithm, so hosts that agreed on the rules (rules_hash) agree here.
#include "algo/hier/internal.h"

namespace onet::cross {

const AlgoRule* pick(CrossJob& j, Coll c, uint64_t bytes) {
  for (const AlgoRule& r : j.rules)
    if (r.coll == c && bytes <= r.max_bytes) {
      j.chosen = std::string(coll_name(c)) + ":" + r.algo;
      return &r;
    }
  return nullptr;
}

namespace {

// The registry entry the rules pick for (c, bytes), else the collective's first inter-host one;
// the rule's chunk size goes to *o.
const algo::AlgoInfo& choose(CrossJob& j, Coll c, uint64_t bytes, algo::Options* o) {
  const AlgoRule* r = pick(j, c, bytes);
  if (r && r->chunk_bytes) o->chunk_bytes = r->chunk_bytes;
  const algo::AlgoInfo* a = r ? algo::find(c, r->algo) : nullptr;
  if (a && a->kind == algo::AlgoKind::kInter) return *a;
  for (const algo::AlgoInfo& x : algo::kAlgorithms)
    if (x.coll == c && x.kind == algo::AlgoKind::kInter) return x;
  return algo::kAlgorithms[0];  // unreachable: every collective here has one (algo_test checks the registry)
}

size_t sum(const std::vector<size_t>& v) {
  size_t t = 0;
  for (size_t x : v) t += x;
  return t;
}

}  // namespace

Status inter_allreduce(CrossJob& j, void* buf, uint64_t n, RedOp op) {
  if (j.comm.size == 1) return Status::Ok();
  algo::Options o;
  const algo::AlgoInfo& a = choose(j, Coll::allreduce, n * dtype_size(j.dt), &o);
  algo::Call call;
  call.coll = Coll::allreduce;
  call.buf = buf;
  call.count = n;
  call.dt = j.dt;
  call.op = op;
  return algo::run(a, j.comm, call, o);
}

Status inter_allgatherv(CrossJob& j, void* buf, const std::vector<size_t>& counts, const std::vector<size_t>& displs) {
  if (j.comm.size == 1) return Status::Ok();
  algo::Options o;
  const algo::AlgoInfo& a = choose(j, Coll::allgather, sum(counts) * dtype_size(j.dt), &o);
  algo::Call call;
  call.coll = Coll::allgatherv;
  call.buf = buf;
  call.counts = counts;
  call.displs = displs;
  call.dt = j.dt;
  return algo::run(a, j.comm, call, o);
}

Status inter_broadcast(CrossJob& j, void* buf, uint64_t bytes, int root_host) {
  if (j.comm.size == 1) return Status::Ok();
  algo::Options o;
  const algo::AlgoInfo& a = choose(j, Coll::broadcast, bytes, &o);
  algo::Call call;
  call.coll = Coll::broadcast;
  call.buf = buf;
  call.count = bytes;
  call.root = root_host;
  return algo::run(a, j.comm, call, o);
}

Status inter_reduce_scatter(CrossJob& j, void* buf, const std::vector<size_t>& counts,
                            const std::vector<size_t>& displs, RedOp op) {
  if (j.comm.size == 1) return Status::Ok();
  algo::Options o;
  const algo::AlgoInfo& a = choose(j, Coll::reduce_scatter, sum(counts) * dtype_size(j.dt), &o);
  algo::Call call;
  call.coll = Coll::reduce_scatterv;
  call.buf = buf;
  call.counts = counts;
  call.displs = displs;
  call.dt = j.dt;
  call.op = op;
  return algo::run(a, j.comm, call, o);
}

}  // namespace onet::cross
