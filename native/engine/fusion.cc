// A group's lane at work: run the queue's front collective across hosts, offering the small
// allreduces queued right behind it for fusion (algo/hier/fuse.cc has the agreement
// rule), then complete the local slots of it and of every member that rode along — each with
// its own completion, error and telemetry, as if it had run alone.
#include <chrono>

#include "algo/hier/internal.h"
#include "engine/engine.h"
#include "shm/futex.h"

namespace onet {
namespace {

uint64_t bytes_of(const CrossJob& j) { return j.count * dtype_size(j.dt); }

// What a member's ranks see when its fused exchange failed: "allreduce #8 (fused with
// allreduce #7): <the lead's error without its label>"; `notice` is its abort notice's reason.
Status member_error(const CrossJob& lead, const CrossJob& m, const Status& st, Status* notice) {
  std::string why = st.msg, lbl = cross::label(lead) + ": ";
  if (why.compare(0, lbl.size(), lbl) == 0) why.erase(0, lbl.size());
  *notice = {st.code, cross::label(m) + ": fused with " + cross::label(lead) + ": " + why, st.ranks};
  return {st.code, cross::label(m) + " (fused with " + cross::label(lead) + "): " + why, st.ranks};
}

// Whether `c` reads what an earlier member writes (its input overlaps a member's output on the
// same rank). Unfused it would see that result; fused it would not (every member is folded
// before any is written; the lead alone is written first), so the offer stops before it.
bool reads_earlier(const CrossJob& c, const std::vector<CrossJob*>& members) {
  const uint64_t es = dtype_size(c.dt), in_bytes = c.count * es;
  for (const CrossJob* m : members)
    for (const CrossPart& a : c.local)
      for (const CrossPart& b : m->local) {
        if (a.rank != b.rank) continue;
        uint64_t in0 = a.slot->in_off, out0 = b.slot->out_off;
        if (in0 < out0 + m->count * es && out0 < in0 + in_bytes) return true;
      }
  return false;
}

}  // namespace

void Engine::drain_cross(CrossQueue& q) {
  CrossItem lead;
  {
    std::lock_guard<std::mutex> lk(q.mu);
    if (q.items.empty()) return;  // it rode along in an earlier exchange
    lead = std::move(q.items.front());
    q.items.pop_front();
    // Offer what is already here; never wait for more (no added latency).
    CrossJob& j = *lead.job;
    uint64_t total = bytes_of(j);
    if (cfg_.fusion_bytes > 0 && cross::oneshot(j))
      for (size_t i = 0; i < q.items.size() && j.fuse_offer.size() < kMaxFused; i++) {
        CrossJob& c = *q.items[i].job;
        total = ((total + 63) & ~uint64_t(63)) + bytes_of(c);
        if (c.seq != j.seq + 1 + i || total > cfg_.fusion_bytes || !fusable(j, c) || reads_earlier(c, j.fuse_offer))
          break;
        j.fuse_offer.push_back(&c);  // stays queued (and alive) until the exchange agreed on it
      }
  }
  std::shared_ptr<CrossJob> job = lead.job;
  const auto z0 = std::chrono::steady_clock::now();
  Status st = run_cross(*job);
  if (st.ok()) xh_.z_observe(*job, std::chrono::duration<double>(std::chrono::steady_clock::now() - z0).count());
  if (job->z_raw_bytes) xh_.z_count(codec::name(job->codec), job->z_raw_bytes, job->z_sent_bytes);
  std::vector<CrossItem> members;
  {
    std::lock_guard<std::mutex> lk(q.mu);
    for (size_t i = 0; i < job->fused; i++) {  // the agreed prefix of the offer is the queue's front
      members.push_back(std::move(q.items.front()));
      q.items.pop_front();
    }
  }
  job->fuse_offer.clear();  // the members are owned by `members` now
  bool relayed = false;     // failed by another host's abort notice (engine/abort.cc)
  if (!st.ok()) st = on_cross_failure(*job, st, &relayed);
  // A failed exchange fails every member with the lead's error; each member's own tag range is
  // cancelled and announced too, so a host that never learnt the fused set fails them at once.
  std::vector<Status> mst(members.size(), Status::Ok());
  std::vector<bool> mrelayed(members.size(), relayed);
  for (size_t i = 0; i < members.size() && !st.ok(); i++) {
    bool r = false;
    Status notice;
    mst[i] = member_error(*job, *members[i].job, st, &notice);
    on_cross_failure(*members[i].job, notice, &r, relayed);
  }
  int64_t t1 = shm::now_ns();
  if (!st.ok()) {  // the transport may still write into the job's staging: keep it (and the members' notices)
    xh_.keep_failed(job);
    for (auto& m : members) xh_.keep_failed(m.job);
  }
  post_cmd([this, lead = std::move(lead), members = std::move(members), st, mst, mrelayed, relayed, t1]() mutable {
    auto finish = [&](CrossItem& it, const Status& s, bool rel) {
      Status out = s;
      if (!s.ok() && !rel) out.msg += xh_.lost_ranks(out);
      for (auto& p : it.job->local) complete(p.rank, p.idx, out);
      if (s.ok()) {
        stats_.arrivals = it.arr;  // the local ranks' posts
        const CrossJob& j = *it.job;
        stats_.on_collective(j.coll, uint32_t(j.dt), j.group, j.seq, j.count, it.t0, t1);
      }
    };
    finish(lead, st, relayed);
    for (size_t i = 0; i < members.size(); i++) finish(members[i], mst[i], mrelayed[i]);
    if (!members.empty() && st.ok()) stats_.on_fused(members.size() + 1);
  });
}

}  // namespace onet
