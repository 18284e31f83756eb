// Reducing collectives across hosts: fold local ranks in shared memory, combine across hosts,
// copy out. avg is summed and divided once; premul_sum multiplies locally and sums across hosts.
#include "algo/hier/internal.h"

namespace onet::cross {

// Every local rank's input and output of n elements (allreduce shape), range-checked.
Status buffers(const CrossJob& j, uint64_t n, std::vector<const char*>* ins, std::vector<char*>* outs) {
  for (auto& p : j.local) {
    char *i, *o;
    Status st = at(j, p, p.slot->in_off, n, "input", &i);
    if (st.ok()) st = at(j, p, p.slot->out_off, n, "output", &o);
    if (!st.ok()) return st;
    ins->push_back(i);
    outs->push_back(o);
  }
  return Status::Ok();
}

Status run_allreduce(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  uint64_t n = j.count;
  std::vector<const char*> ins;
  std::vector<char*> outs;
  if (Status st = buffers(j, n, &ins, &outs); !st.ok()) return st;
  char* s = stage(j, n * es);
  Status st = fold(j, s, ins, n);
  if (st.ok() && compressed(j)) st = inter_allreduce_compressed(j, s, n, inter_op(j.op));
  else if (st.ok()) st = inter_allreduce(j, s, n, inter_op(j.op));
  if (st.ok()) st = finish_avg(j, s, n);
  if (!st.ok()) return st;
  for (char* o : outs) memcpy(o, s, n * es);
  return Status::Ok();
}

Status run_reduce(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  uint64_t n = j.count;
  std::vector<const char*> ins;
  char* root_out = nullptr;
  for (auto& p : j.local) {
    char* i;
    Status st = at(j, p, p.slot->in_off, n, "input", &i);
    if (st.ok() && p.grank == j.root) st = at(j, p, p.slot->out_off, n, "output", &root_out);
    if (!st.ok()) return st;
    ins.push_back(i);
  }
  const int root_host = host_of(j, j.root);
  char* s = stage(j, n * es);
  Status st = fold(j, s, ins, n);
  if (st.ok() && j.comm.size > 1) {
    algo::Options o;
    st = algo::reduce_binomial(j.comm, s, n, j.dt, inter_op(j.op), root_host, o);
  }
  if (st.ok() && root_out) {
    st = finish_avg(j, s, n);
    if (st.ok()) memcpy(root_out, s, n * es);
  }
  return st;
}

Status run_reduce_scatter(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  std::vector<uint64_t> rc, rd;
  Status st = rank_layout(j, &rc, &rd);
  if (!st.ok()) return st;
  uint64_t total = rd[j.P];
  std::vector<const char*> ins;
  std::vector<char*> outs;
  for (auto& p : j.local) {
    char *i, *o;
    if (!(st = at(j, p, p.slot->in_off, total, "input", &i)).ok()) return st;
    if (!(st = at(j, p, p.slot->out_off, rc[p.grank], "output", &o)).ok()) return st;
    ins.push_back(i);
    outs.push_back(o);
  }
  char* s = stage(j, total * es);
  if (!(st = fold(j, s, ins, total)).ok()) return st;
  if (contiguous(j)) {
    const int H = int(j.host_members.size());
    std::vector<size_t> hc(H, 0), hd(H, 0);
    for (int h = 0; h < H; h++) {
      hd[h] = rd[j.host_members[h].front()];
      for (int g : j.host_members[h]) hc[h] += rc[g];
    }
    st = inter_reduce_scatter(j, s, hc, hd, inter_op(j.op));
  } else {
    st = inter_allreduce(j, s, total, inter_op(j.op));
  }
  if (!st.ok()) return st;
  for (size_t i = 0; i < j.local.size(); i++) {
    int g = j.local[i].grank;
    char* blk = s + rd[g] * es;
    if (!(st = finish_avg(j, blk, rc[g])).ok()) return st;
    memcpy(outs[i], blk, rc[g] * es);
  }
  return Status::Ok();
}

}  // namespace onet::cross
