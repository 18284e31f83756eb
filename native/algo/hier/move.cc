// Data-movement collectives across hosts: broadcast, allgather(v), gather, scatter, alltoall(v)
// and barrier. Gathers stage host-major (each host's members back to back).
#include "algo/hier/internal.h"

namespace onet::cross {

Status run_broadcast(CrossJob& j) {
  size_t bytes = j.count * dtype_size(j.dt);
  std::vector<char*> outs;
  const char* src = nullptr;
  for (auto& p : j.local) {
    char* o;
    Status st = at(j, p, p.slot->out_off, j.count, "output", &o);
    if (!st.ok()) return st;
    outs.push_back(o);
    if (p.grank == j.root) {
      char* i;
      if (!(st = at(j, p, p.slot->in_off, j.count, "input", &i)).ok()) return st;
      src = i;
    }
  }
  const int root_host = host_of(j, j.root);
  char* s = stage(j, bytes);
  if (src) memcpy(s, src, bytes);
  Status st = inter_broadcast(j, s, bytes, root_host);
  if (!st.ok()) return st;
  for (char* o : outs) memcpy(o, s, bytes);
  return Status::Ok();
}

Status run_allgather(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  std::vector<uint64_t> rc, rdispl;
  Status st = rank_layout(j, &rc, &rdispl);
  if (!st.ok()) return st;
  uint64_t total = rdispl[j.P];
  const int H = int(j.host_members.size());
  std::vector<size_t> hc(H, 0), hd(H, 0);
  std::vector<uint64_t> pos(j.P);  // staging position of each group rank's block
  uint64_t cur = 0;
  for (int h = 0; h < H; h++) {
    hd[h] = cur;
    for (int g : j.host_members[h]) {
      pos[g] = cur;
      cur += rc[g];
      hc[h] += rc[g];
    }
  }
  char* s = stage(j, total * es);
  std::vector<char*> outs;
  for (auto& p : j.local) {
    char *i, *o;
    if (!(st = at(j, p, p.slot->in_off, rc[p.grank], "input", &i)).ok()) return st;
    if (!(st = at(j, p, p.slot->out_off, total, "output", &o)).ok()) return st;
    memcpy(s + pos[p.grank] * es, i, rc[p.grank] * es);
    outs.push_back(o);
  }
  if (!(st = inter_allgatherv(j, s, hc, hd)).ok()) return st;
  bool same = contiguous(j);
  for (char* o : outs) {
    if (same) memcpy(o, s, total * es);
    else
      for (int g = 0; g < j.P; g++) memcpy(o + rdispl[g] * es, s + pos[g] * es, rc[g] * es);
  }
  return Status::Ok();
}

// gather/scatter: the root's host exchanges one packed block (its members back to back)
// with every other host directly — H-1 messages, each host's data crossing the network once.
Status run_gather_scatter(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  const int H = int(j.host_members.size()), me = j.comm.rank, rh = host_of(j, j.root);
  uint64_t n = j.count, total = n * j.P;
  std::vector<uint64_t> pos(j.P), hd(H), hc(H, 0);
  uint64_t cur = 0;
  for (int h = 0; h < H; h++) {
    hd[h] = cur;
    for (int g : j.host_members[h]) pos[g] = cur, cur += n, hc[h] += n;
  }
  char* s = stage(j, total * es);
  Status st;
  bool gather = j.coll == Coll::gather;
  const CrossPart* root = nullptr;
  for (auto& p : j.local)
    if (p.grank == j.root) root = &p;
  if (gather) {
    for (auto& p : j.local) {
      char* i;
      if (!(st = at(j, p, p.slot->in_off, n, "input", &i)).ok()) return st;
      memcpy(s + pos[p.grank] * es, i, n * es);
    }
  } else if (root) {
    char* i;
    if (!(st = at(j, *root, root->slot->in_off, total, "input", &i)).ok()) return st;
    for (int g = 0; g < j.P; g++) memcpy(s + pos[g] * es, i + uint64_t(g) * n * es, n * es);
  }
  std::vector<std::unique_ptr<net::Request>> rq;
  uint64_t tag = j.comm.tag + 1;
  if (me == rh) {
    for (int h = 0; h < H; h++) {
      if (h == me) continue;
      char* blk = s + hd[h] * es;
      rq.push_back(gather ? j.comm.pairs[h]->irecv(blk, hc[h] * es, tag)
                          : j.comm.pairs[h]->isend(blk, hc[h] * es, tag));
    }
  } else {
    char* blk = s + hd[me] * es;
    rq.push_back(gather ? j.comm.pairs[rh]->isend(blk, hc[me] * es, tag)
                        : j.comm.pairs[rh]->irecv(blk, hc[me] * es, tag));
  }
  for (auto& r : rq)
    if (!(st = r->wait(j.comm.deadline_ms)).ok()) return st;
  if (gather) {
    if (!root) return Status::Ok();
    char* o;
    if (!(st = at(j, *root, root->slot->out_off, total, "output", &o)).ok()) return st;
    for (int g = 0; g < j.P; g++) memcpy(o + uint64_t(g) * n * es, s + pos[g] * es, n * es);
    return Status::Ok();
  }
  for (auto& p : j.local) {
    char* o;
    if (!(st = at(j, p, p.slot->out_off, n, "output", &o)).ok()) return st;
    memcpy(o, s + pos[p.grank] * es, n * es);
  }
  return Status::Ok();
}

// alltoall(v): pack, per destination host, every (local sender, remote receiver) block in
// member order; exchange pairwise; unpack with the receivers' own counts. Everything is
// staged, so in-place calls are safe.
Status run_alltoall(CrossJob& j) {
  size_t es = dtype_size(j.dt);
  const int H = int(j.host_members.size()), me = j.comm.rank, P = j.P;
  Status st;
  // Per local member: send counts/displs and recv counts/displs indexed by group rank.
  struct V {
    std::vector<uint64_t> sc, sd, rc, rd;
    char *in, *out;
  };
  std::vector<V> v(j.local.size());
  for (size_t li = 0; li < j.local.size(); li++) {
    const CrossPart& p = j.local[li];
    V& x = v[li];
    if (j.coll == Coll::alltoall) {
      for (int r = 0; r < P; r++) {
        x.sc.push_back(j.count);
        x.sd.push_back(r * j.count);
        x.rc.push_back(j.count);
        x.rd.push_back(r * j.count);
      }
    } else {
      char* a;
      CrossJob tmp = j;
      tmp.dt = DType::i64;
      if (!(st = at(tmp, p, p.slot->aux_off, 4 * P, "count lists", &a)).ok()) return st;
      std::vector<uint64_t> all(4 * P);
      memcpy(all.data(), a, 4 * P * 8);
      x.sc.assign(all.begin(), all.begin() + P);
      x.sd.assign(all.begin() + P, all.begin() + 2 * P);
      x.rc.assign(all.begin() + 2 * P, all.begin() + 3 * P);
      x.rd.assign(all.begin() + 3 * P, all.end());
    }
    uint64_t in_e = 0, out_e = 0;
    for (int r = 0; r < P; r++) {
      in_e = std::max(in_e, x.sd[r] + x.sc[r]);
      out_e = std::max(out_e, x.rd[r] + x.rc[r]);
    }
    if (!(st = at(j, p, p.slot->in_off, in_e, "input", &x.in)).ok()) return st;
    if (!(st = at(j, p, p.slot->out_off, out_e, "output", &x.out)).ok()) return st;
  }
  std::vector<size_t> sb(H, 0), sdp(H, 0), rb(H, 0), rdp(H, 0);
  size_t stot = 0, rtot = 0;
  for (int h = 0; h < H; h++) {
    sdp[h] = stot;
    rdp[h] = rtot;
    for (auto& x : v)
      for (int g : j.host_members[h]) sb[h] += x.sc[g] * es;
    for (int g : j.host_members[h])
      for (auto& x : v) rb[h] += x.rc[g] * es;
    stot += sb[h];
    rtot += rb[h];
  }
  char* sbuf = stage(j, stot);
  char* rbuf = stage(j, rtot);
  for (int h = 0; h < H; h++) {
    char* w = sbuf + sdp[h];
    for (auto& x : v)
      for (int g : j.host_members[h]) {
        memcpy(w, x.in + x.sd[g] * es, x.sc[g] * es);
        w += x.sc[g] * es;
      }
  }
  algo::Options o;
  if (!(st = algo::alltoall_pairwise(j.comm, sbuf, sb, sdp, rbuf, rb, rdp, o)).ok()) return st;
  // Host h packed (its member r, our member s) pairs with r outer: walk it the same way.
  for (int h = 0; h < H; h++) {
    const char* rp = rbuf + rdp[h];
    for (int r : j.host_members[h])
      for (auto& x : v) {
        memcpy(x.out + x.rd[r] * es, rp, x.rc[r] * es);
        rp += x.rc[r] * es;
      }
  }
  (void)me;
  return Status::Ok();
}

Status run_barrier(CrossJob& j) {
  if (j.comm.size == 1) return Status::Ok();
  algo::Options o;
  return algo::barrier_dissemination(j.comm, o);
}

}  // namespace onet::cross
