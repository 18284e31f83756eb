// alltoall(v): block j of rank r's output is block r of rank j's input. Reads P·S, writes
// P·S. In place (input == output on some rank) stages every input through engine scratch
// first, since rank r's output block j overwrites input that rank j still has to receive.
#include <algorithm>
#include <cstring>

#include "algo/local/local.h"

namespace onet::local {

Status plan_alltoall_family(const Matched& m, Plan* plan) {
  const int P = int(m.parts.size());
  size_t es = dtype_size(m.dt);
  Status st;
  // sc[j][r]: elements j sends to r at sd[j][r]; rc[r][j]: elements r takes from j at rd[r][j].
  std::vector<std::vector<uint64_t>> sc(P), sd(P), rc(P), rd(P);
  std::vector<uint64_t> in_elems(P), out_elems(P);
  for (int g = 0; g < P; g++) {
    if (m.coll == Coll::alltoall) {
      if (m.count && uint64_t(P) > UINT64_MAX / m.count) return {Code::kInvalid, "alltoall: count overflows"};
      for (int r = 0; r < P; r++) {
        sc[g].push_back(m.count);
        sd[g].push_back(r * m.count);
        rc[g].push_back(m.count);
        rd[g].push_back(r * m.count);
      }
    } else {
      std::vector<uint64_t> a;
      if (!(st = read_counts(m, g, m.parts[g].slot->aux_off, 4 * P, &a)).ok()) return st;
      sc[g].assign(a.begin(), a.begin() + P);
      sd[g].assign(a.begin() + P, a.begin() + 2 * P);
      rc[g].assign(a.begin() + 2 * P, a.begin() + 3 * P);
      rd[g].assign(a.begin() + 3 * P, a.end());
    }
    for (int r = 0; r < P; r++) {
      if (sd[g][r] > UINT64_MAX / 2 || sc[g][r] > UINT64_MAX / 2 || rd[g][r] > UINT64_MAX / 2 ||
          rc[g][r] > UINT64_MAX / 2)
        return {Code::kInvalid,
                "alltoallv #" + std::to_string(m.seq) + ": " + who(m, g) + " counts/displacements overflow"};
      in_elems[g] = std::max(in_elems[g], sd[g][r] + sc[g][r]);
      out_elems[g] = std::max(out_elems[g], rd[g][r] + rc[g][r]);
    }
  }
  for (int j = 0; j < P; j++)
    for (int r = 0; r < P; r++)
      if (sc[j][r] != rc[r][j])
        return {Code::kMismatch, "alltoallv #" + std::to_string(m.seq) + ": " + who(m, j) + " sends " +
                                     std::to_string(sc[j][r]) + " elements to " + who(m, r) + ", which expects " +
                                     std::to_string(rc[r][j])};
  std::vector<const char*> ins(P);
  std::vector<char*> outs(P);
  bool stage = false;
  for (int g = 0; g < P; g++) {
    const shm::Slot* s = m.parts[g].slot;
    char* in;
    if (!(st = resolve(m, g, {s->in_off, in_elems[g]}, "input", &in)).ok()) return st;
    if (!(st = resolve(m, g, {s->out_off, out_elems[g]}, "output", &outs[g])).ok()) return st;
    ins[g] = in;
    if (overlap({s->in_off, in_elems[g]}, {s->out_off, out_elems[g]}, es)) {
      if (s->in_off != s->out_off)
        return {Code::kInvalid, std::string(coll_name(m.coll)) + " #" + std::to_string(m.seq) + ": " + who(m, g) +
                                    " input and output overlap without being in place; use separate buffers"};
      stage = true;
    }
  }
  if (stage) {
    for (int g = 0; g < P; g++) {
      char* copy = plan->stage(in_elems[g] * es);
      if (in_elems[g]) memcpy(copy, ins[g], in_elems[g] * es);
      ins[g] = copy;
    }
  }
  for (int j = 0; j < P; j++)
    for (int r = 0; r < P; r++) plan->copy(ins[j] + sd[j][r] * es, outs[r] + rd[r][j] * es, sc[j][r]);
  return Status::Ok();
}

}  // namespace onet::local
