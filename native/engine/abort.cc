// Mid-transfer aborts of cross-host collectives (docs/protocol.md §9, docs/reliability.md).
// When this host's part of collective (group, seq) fails — a frame that failed its checksum, a
// broken link, a deadline — its lane (1) gives up the collective's tag range on every link
// (Pair::cancel), so frames of it still in flight are dropped instead of buffered, and (2) sends
// an AbortNotice to every other host of the group, with the ranks its error blames. A host that
// receives the notice gives up the same range with an error naming the sender and blaming those
// ranks (the sender's own when its error blamed none): its lane, blocked in that collective or
// about to enter it, fails at once. Nothing of an aborted collective can reach the next one: every tag
// carries (group, seq), and the range stays cancelled on every host.
#include <algorithm>
#include <cstring>

#include "algo/hier/internal.h"
#include "engine/engine.h"

namespace onet {
namespace {

// A notice travels as one frame; a copy that fails its checksum is dropped by the receiver,
// who cannot tell which collective it was about. Two copies (duplicates are ignored) make a
// lost notice — and a wait until the deadline — need two bad frames in a row.
constexpr int kNoticeCopies = 2;

// The tag range of a collective: (group, seq) in the upper 48 bits, the algorithm's steps in
// the lower 16 (execute_cross in network.cc builds comm.tag the same way).
uint64_t tag_base(uint32_t group, uint64_t seq) {
  return (uint64_t(group & 0xFFFF) << 48) | ((seq & 0xFFFFFFFFull) << 16);
}

}  // namespace

bool Engine::poll_aborts() {
  bool did = false;
  for (auto& [h, b] : xh_.abort_boxes) {
    while (!b.failed && b.req->test()) {
      Status st = b.req->wait(0);
      if (st.code == Code::kAborted || st.code == Code::kClosed) {  // the link is gone, and with it
        b.failed = true;                                            // every collective over it
        break;
      }
      if (st.ok()) on_abort_notice(h, *b.n);  // else a copy that failed its checksum: skip it
      b.req = xh_.dev->pair(h)->irecv(b.n.get(), sizeof(AbortNotice), kTagAbort);
      did = true;
    }
  }
  return did;
}

void Engine::on_abort_notice(int from, const AbortNotice& n) {
  if (n.magic != kAbortMagic || n.host != from || n.reason_len > kAbortReasonBytes || n.nruns > kAbortRuns)
    return;  // not a notice we sent
  Code code =
      n.code >= uint32_t(Code::kMismatch) && n.code <= uint32_t(Code::kInternal) ? Code(n.code) : Code::kInternal;
  // The ranks the sender's error blamed (a host it lost): every survivor names those, whether its own
  // error or this notice came first, so all of them shrink by the same list (docs/wan.md).
  const int64_t world = int64_t(xh_.host_of_rank.size());
  std::vector<int> blamed;
  for (uint32_t i = 0; i < n.nruns; i++)
    for (int64_t r = std::max<int64_t>(n.lost[i].first, 0);
         r < std::min<int64_t>(int64_t(n.lost[i].first) + std::max(n.lost[i].count, 0), world); r++)
      blamed.push_back(int(r));
  std::sort(blamed.begin(), blamed.end());
  blamed.erase(std::unique(blamed.begin(), blamed.end()), blamed.end());
  std::string ranks;  // else the sender's ranks in that group (all of them if the group is unknown here)
  auto g = groups_.find(n.group);
  if (blamed.empty())
    for (size_t r = 0; r < xh_.host_of_rank.size(); r++)
      if (xh_.host_of_rank[r] == from && (g == groups_.end() || g->second.grank.count(int(r)))) {
        ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
        blamed.push_back(int(r));
      }
  std::string msg = std::string(coll_name(Coll(n.coll))) + " #" + std::to_string(n.seq) + ": host " +
                    std::to_string(from) + (ranks.empty() ? "" : " (ranks " + ranks + ")") +
                    " aborted it: " + std::string(n.reason, n.reason_len);
  if (!xh_.remember_abort(n.group, n.seq, Aborted{code, msg, blamed})) return;  // a second copy
  // Every link, not only the sender's: this host's lane may be waiting on any peer.
  const uint64_t lo = tag_base(n.group, n.seq);
  xh_.cancel_everywhere(lo, lo | 0xFFFF, {code, msg, blamed});
}

// Lane thread, after run_cross failed. Returns the error the local ranks get.
// `ranks_global`: st.ranks are global ranks already (a fused member of a collective a notice ended),
// else the transport's host indexes.
Status Engine::on_cross_failure(CrossJob& j, Status st, bool* relayed, bool ranks_global) {
  *relayed = false;
  if (Aborted a; xh_.find_abort(j.group, j.seq, &a)) {
    // A peer aborted it and told everyone. If its notice is what ended our wait, report the
    // notice as is (without the algorithm step our wait was in); else our own error came first.
    if (st.msg.find(a.msg) == std::string::npos) return st;
    *relayed = true;
    return {a.code, a.msg, a.ranks};
  }
  net::Comm& c = j.comm;
  if (c.size < 2) return st;
  const uint64_t lo = tag_base(j.group, j.seq);
  for (int h = 0; h < c.size; h++)
    if (h != c.rank && c.pairs[h]) c.pairs[h]->cancel(lo, lo | 0xFFFF, st);
  // The notice lives in the job's staging, which outlives the sends: a failed job is kept
  // until the device closes (execute_cross), so the request handles can be dropped.
  auto* n = reinterpret_cast<AbortNotice*>(cross::stage(j, sizeof(AbortNotice)));
  std::memset(n, 0, sizeof *n);
  n->magic = kAbortMagic;
  n->group = j.group;
  n->seq = j.seq;
  n->host = j.host_ids[c.rank];
  n->code = uint32_t(st.code);
  n->coll = uint32_t(j.coll);
  // The receiver names the collective itself: drop "allreduce #7: " or "allreduce #7 in group 3: ".
  std::string why = st.msg;
  for (const std::string& lbl :
       {cross::label(j) + ": ", cross::label(j) + " in group " + std::to_string(j.group) + ": "})
    if (why.compare(0, lbl.size(), lbl) == 0) why.erase(0, lbl.size());
  // A lost host (kAborted): the ranks the local ranks will see blamed, "; ranks 2 (host 2) are lost"
  // (fusion.cc adds the same to the local error), sent as runs of consecutive ranks. Other errors (a
  // checksum, a deadline) carry none: the receivers blame this host, as they always did.
  Status blamed = st;
  if (!ranks_global) why += xh_.lost_ranks(blamed);
  if (st.code != Code::kAborted) blamed.ranks.clear();
  n->reason_len = uint32_t(std::min<size_t>(why.size(), kAbortReasonBytes));
  std::memcpy(n->reason, why.data(), n->reason_len);
  for (int r : blamed.ranks) {
    if (n->nruns && n->lost[n->nruns - 1].first + n->lost[n->nruns - 1].count == r) {
      n->lost[n->nruns - 1].count++;
    } else if (n->nruns < kAbortRuns) {
      n->lost[n->nruns++] = {r, 1};
    } else {
      break;  // more than kAbortRuns runs: the receivers name the first ones
    }
  }
  for (int h = 0; h < c.size; h++)
    if (h != c.rank && c.pairs[h])
      for (int k = 0; k < kNoticeCopies; k++) c.pairs[h]->isend(n, sizeof *n, kTagAbort);
  return st;
}

}  // namespace onet
