// allreduce, reduce, reduce_scatter(v): one reduce step per output block, reading every
// rank's input once. allreduce: P·S read, P·S written; reduce_scatter: P·S read, S written.
#include <numeric>

#include "algo/local/local.h"

namespace onet::local {

namespace {

// A reduce step whose sources are srcs (fold order = group rank order) and outputs dsts.
// If dsts[0] aliases any source but the first, stage through engine scratch.
void add_reduce(Plan* plan, std::vector<const char*> srcs, std::vector<char*> dsts, size_t n) {
  if (!n) return;
  size_t bytes = n * dtype_size(plan->dt);
  for (size_t j = 1; j < srcs.size(); j++) {
    if (dsts[0] < srcs[j] + bytes && srcs[j] < dsts[0] + bytes) {
      dsts.insert(dsts.begin(), plan->stage(bytes));
      break;
    }
  }
  plan->steps.push_back({Step::kReduce, std::move(srcs), std::move(dsts), n});
}

Status check_inplace(const Matched& m, int g, Range in, Range out, bool block_ok, uint64_t block_off) {
  size_t es = dtype_size(m.dt);
  if (!overlap(in, out, es)) return Status::Ok();
  if (in.off == out.off && in.elems == out.elems) return Status::Ok();
  if (block_ok && out.off == in.off + block_off * es) return Status::Ok();
  return {Code::kInvalid, std::string(coll_name(m.coll)) + " #" + std::to_string(m.seq) + ": " + who(m, g) +
                              " input and output overlap without being in place; use separate buffers"};
}

}  // namespace

Status plan_reduce_family(const Matched& m, Plan* plan) {
  const int P = int(m.parts.size());
  std::vector<const char*> ins(P);
  std::vector<char*> outs(P, nullptr);
  std::vector<uint64_t> counts(P, m.count), displs(P, 0);
  uint64_t in_elems = m.count;
  if (m.coll == Coll::reduce_scatter) in_elems = m.count * P;
  if (m.coll == Coll::reduce_scatterv) {
    std::vector<uint64_t> c0;
    for (int g = 0; g < P; g++) {
      std::vector<uint64_t> c;
      Status st = read_counts(m, g, m.parts[g].slot->aux_off, P, &c);
      if (!st.ok()) return st;
      if (g == 0) c0 = c;
      else if (c != c0)
        return {Code::kMismatch, std::string("reduce_scatterv #") + std::to_string(m.seq) + ": counts differ between " +
                                     who(m, 0) + " and " + who(m, g)};
    }
    counts = c0;
    in_elems = 0;
    for (int j = 0; j < P; j++) {
      displs[j] = in_elems;
      in_elems += counts[j];
    }
  } else if (m.coll == Coll::reduce_scatter) {
    for (int j = 0; j < P; j++) displs[j] = j * m.count;
  }
  if (m.coll == Coll::reduce_scatter && P && m.count > UINT64_MAX / P)
    return {Code::kInvalid, "reduce_scatter #" + std::to_string(m.seq) + ": count overflows"};

  for (int g = 0; g < P; g++) {
    const shm::Slot* s = m.parts[g].slot;
    char* in;
    Status st = resolve(m, g, {s->in_off, in_elems}, "input", &in);
    if (!st.ok()) return st;
    ins[g] = in;
    bool has_out = m.coll != Coll::reduce || g == m.root;
    if (!has_out) continue;
    bool scatter = m.coll == Coll::reduce_scatter || m.coll == Coll::reduce_scatterv;
    Range out_r{s->out_off, scatter ? counts[g] : m.count};
    st = resolve(m, g, out_r, "output", &outs[g]);
    if (!st.ok()) return st;
    st = check_inplace(m, g, {s->in_off, in_elems}, out_r, scatter, displs[g]);
    if (!st.ok()) return st;
  }
  size_t es = dtype_size(m.dt);
  if (m.coll == Coll::allreduce) {
    add_reduce(plan, ins, outs, m.count);
  } else if (m.coll == Coll::reduce) {
    add_reduce(plan, ins, {outs[m.root]}, m.count);
  } else {
    for (int j = 0; j < P; j++) {
      std::vector<const char*> blk(P);
      for (int g = 0; g < P; g++) blk[g] = ins[g] + displs[j] * es;
      add_reduce(plan, blk, {outs[j]}, counts[j]);
    }
  }
  return Status::Ok();
}

}  // namespace onet::local
