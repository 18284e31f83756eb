// broadcast, allgather(v), gather, scatter: pure copies from each source block straight into
// every destination. allgather: reads P·S, writes P²·S; broadcast: reads S, writes P·S.
#include "algo/local/local.h"

namespace onet::local {

namespace {

Status counts_v(const Matched& m, std::vector<uint64_t>* counts) {
  const int P = int(m.parts.size());
  for (int g = 0; g < P; g++) {
    std::vector<uint64_t> c;
    Status st = read_counts(m, g, m.parts[g].slot->aux_off, P, &c);
    if (!st.ok()) return st;
    if (g == 0) *counts = c;
    else if (c != *counts)
      return {Code::kMismatch,
              "allgatherv #" + std::to_string(m.seq) + ": counts differ between " + who(m, 0) + " and " + who(m, g)};
  }
  for (int g = 0; g < P; g++)
    if (m.parts[g].slot->count != (*counts)[g])
      return {Code::kMismatch, "allgatherv #" + std::to_string(m.seq) + ": " + who(m, g) + " sends " +
                                   std::to_string(m.parts[g].slot->count) + " elements but counts[" +
                                   std::to_string(g) + "] = " + std::to_string((*counts)[g])};
  return Status::Ok();
}

Status not_in_place(const Matched& m, int g) {
  return {Code::kInvalid, std::string(coll_name(m.coll)) + " #" + std::to_string(m.seq) + ": " + who(m, g) +
                              " input and output overlap without being in place; use separate buffers"};
}

}  // namespace

Status plan_gather_family(const Matched& m, Plan* plan) {
  const int P = int(m.parts.size());
  size_t es = dtype_size(m.dt);
  Status st;
  if (m.coll == Coll::broadcast) {
    char* src;
    const shm::Slot* rs = m.parts[m.root].slot;
    if (!(st = resolve(m, m.root, {rs->in_off, m.count}, "input", &src)).ok()) return st;
    if (rs->in_off != rs->out_off && overlap({rs->in_off, m.count}, {rs->out_off, m.count}, es))
      return not_in_place(m, m.root);
    Step s{Step::kCopy, {src}, {}, m.count};
    for (int g = 0; g < P; g++) {
      char* out;
      if (!(st = resolve(m, g, {m.parts[g].slot->out_off, m.count}, "output", &out)).ok()) return st;
      if (out != src) s.dsts.push_back(out);
    }
    if (m.count && !s.dsts.empty()) plan->steps.push_back(std::move(s));
    return Status::Ok();
  }
  if (m.coll == Coll::scatter) {
    char* src;
    const shm::Slot* rs = m.parts[m.root].slot;
    if (m.count && uint64_t(P) > UINT64_MAX / m.count) return {Code::kInvalid, "scatter: count overflows"};
    if (!(st = resolve(m, m.root, {rs->in_off, m.count * P}, "input", &src)).ok()) return st;
    for (int g = 0; g < P; g++) {
      const shm::Slot* s = m.parts[g].slot;
      char* out;
      if (!(st = resolve(m, g, {s->out_off, m.count}, "output", &out)).ok()) return st;
      if (g == m.root && overlap({s->in_off, m.count * P}, {s->out_off, m.count}, es) &&
          s->out_off != s->in_off + g * m.count * es)
        return not_in_place(m, g);
      plan->copy(src + g * m.count * es, out, m.count);
    }
    return Status::Ok();
  }
  // allgather, allgatherv, gather: block j of every (or the root's) output is rank j's input.
  std::vector<uint64_t> counts(P, m.count), displs(P, 0);
  if (m.coll == Coll::allgatherv && !(st = counts_v(m, &counts)).ok()) return st;
  uint64_t total = 0;
  for (int j = 0; j < P; j++) {
    displs[j] = total;
    if (counts[j] > UINT64_MAX - total) return {Code::kInvalid, std::string(coll_name(m.coll)) + ": counts overflow"};
    total += counts[j];
  }
  std::vector<char*> outs(P, nullptr);
  std::vector<const char*> ins(P);
  for (int g = 0; g < P; g++) {
    const shm::Slot* s = m.parts[g].slot;
    char* in;
    if (!(st = resolve(m, g, {s->in_off, counts[g]}, "input", &in)).ok()) return st;
    ins[g] = in;
    if (m.coll == Coll::gather && g != m.root) continue;
    if (!(st = resolve(m, g, {s->out_off, total}, "output", &outs[g])).ok()) return st;
    if (overlap({s->in_off, counts[g]}, {s->out_off, total}, es) && s->in_off != s->out_off + displs[g] * es)
      return not_in_place(m, g);
  }
  // gather: the root's own block is an in-place no-op when placed there, else a plain copy.
  for (int j = 0; j < P; j++) {
    Step s{Step::kCopy, {ins[j]}, {}, counts[j]};
    for (int g = 0; g < P; g++)
      if (outs[g] && outs[g] + displs[j] * es != ins[j]) s.dsts.push_back(outs[g] + displs[j] * es);
    if (counts[j] && !s.dsts.empty()) plan->steps.push_back(std::move(s));
  }
  return Status::Ok();
}

}  // namespace onet::local
