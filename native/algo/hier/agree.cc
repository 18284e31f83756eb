// The header round of the hierarchical algorithm: every host sends its 56-byte header (what every
// host must agree on, internal.h Hdr) to every other host, so that a mismatch is an error on every
// rank of every host, never a hang. One round of latency (H is small).
#include "algo/hier/internal.h"

namespace onet::cross {

// Waits for the header exchange's requests; a timeout names the hosts that never joined.
Status wait_joined(CrossJob& j, std::vector<std::unique_ptr<net::Request>>& rq) {
  net::Comm& c = j.comm;
  for (auto& r : rq) {
    Status st = r->wait(c.deadline_ms);
    if (!st.ok()) {
      // Before the deadline a kTimeout is another host's abort notice (its code): keep its text.
      if (st.code == Code::kTimeout && net::now_ms() >= c.deadline_ms) {
        std::string missing;
        for (int h = 0; h < c.size; h++)
          if (h != c.rank)
            missing += (missing.empty() ? "" : "; ") + std::string("host ") + std::to_string(j.host_ids[h]) +
                       " (ranks " + ranks_of(j.host_members[h], j) + ")";
        return {Code::kTimeout, label(j) + " in group " + std::to_string(j.group) + ": timed out waiting for " +
                                    missing +
                                    " to join — check that every rank makes the same calls, or raise ONET_TIMEOUT"};
      }
      return {st.code, label(j) + ": " + st.msg, st.ranks};
    }
  }
  return Status::Ok();
}

namespace {
std::string codec_of(uint32_t f) {  // what a header's compression word says, for the message
  return f >> 31 ? "auto" : codec::name(codec::from_fingerprint(f));
}
}  // namespace

// Compares every host's header with ours; a difference is a kMismatch naming both sides.
Status compare(const CrossJob& j, const Hdr& mine, const Hdr* theirs) {
  const net::Comm& c = j.comm;
  for (int h = 0; h < c.size; h++) {
    if (h == c.rank) continue;
    const Hdr& t = theirs[h];
    if (t.bad && !mine.bad)
      return {Code(t.bad),
              label(j) + ": ranks " + ranks_of(j.host_members[h], j) + " (host " + std::to_string(j.host_ids[h]) +
                  ") made an invalid call (their error names it: a buffer past the arena, a bad count list); "
                  "every rank of the collective fails instead of waiting"};
    std::string a =
        "ranks " + ranks_of(j.host_members[c.rank], j) + " (host " + std::to_string(j.host_ids[c.rank]) + ")";
    std::string b = "ranks " + ranks_of(j.host_members[h], j) + " (host " + std::to_string(j.host_ids[h]) + ")";
    std::ostringstream o;
    if (t.seq != mine.seq)
      o << label(j) << ": " << b << " are at sequence " << t.seq << " while " << a << " are at " << mine.seq;
    else if (t.coll != mine.coll)
      o << "#" << j.seq << ": " << a << " called " << coll_name(Coll(mine.coll)) << ", " << b << " called "
        << coll_name(Coll(t.coll));
    else if (t.dtype != mine.dtype)
      o << label(j) << ": dtype differs: " << a << " have " << dtype_name(DType(mine.dtype)) << ", " << b << " have "
        << dtype_name(DType(t.dtype));
    else if (t.redop != mine.redop)
      o << label(j) << ": reduce op differs: " << a << " have " << redop_name(RedOp(mine.redop)) << ", " << b
        << " have " << redop_name(RedOp(t.redop));
    else if (t.root != mine.root)
      o << label(j) << ": root differs: " << a << " have " << mine.root << ", " << b << " have " << t.root;
    else if (t.count != mine.count)
      o << label(j) << ": count differs: " << a << " have " << mine.count << ", " << b << " have " << t.count;
    else if (t.counts_hash != mine.counts_hash)
      o << label(j) << ": per-rank counts differ between " << a << " and " << b;
    else if (t.scale != mine.scale)
      o << label(j) << ": premul_sum factor differs: " << a << " have " << mine.scale << ", " << b << " have "
        << t.scale;
    else if (t.rules_hash != mine.rules_hash)
      o << label(j) << ": the hosts of " << a << " and " << b
        << " chose algorithms by different rules (set ONET_ALGO and ONET_TOPO_FILE identically on every host)";
    else if (t.reserved != mine.reserved && !(t.reserved >> 31 && mine.reserved >> 31))
      o << label(j) << ": compression differs: " << a << " use " << codec_of(mine.reserved) << ", " << b << " use "
        << codec_of(t.reserved) << " (set ONET_COMPRESSION, or the group's or call's option, alike on every host)";
    if (!o.str().empty())
      return {Code::kMismatch, o.str() + " — every rank must make the same collective call in the same order"};
  }
  return Status::Ok();
}

// Everyone sends its header to everyone (H is small; one round of latency).
Status agree(CrossJob& j, const Hdr& mine) {
  net::Comm& c = j.comm;
  if (c.size == 1) return Status::Ok();
  uint64_t tag = c.tag | 0xFFFF;
  Hdr* theirs = reinterpret_cast<Hdr*>(stage(j, sizeof(Hdr) * c.size));
  theirs[c.rank] = mine;  // sent from staging: a send abandoned by a timeout outlives this frame
  std::vector<std::unique_ptr<net::Request>> rq;
  for (int h = 0; h < c.size; h++) {
    if (h == c.rank) continue;
    rq.push_back(c.pairs[h]->irecv(&theirs[h], sizeof(Hdr), tag));
    rq.push_back(c.pairs[h]->isend(&theirs[c.rank], sizeof(Hdr), tag));
  }
  Status st = wait_joined(j, rq);
  if (st.ok()) st = compare(j, mine, theirs);
  if (st.ok() && j.z_auto) j.codec = codec::from_fingerprint(theirs[0].reserved & 0x7FFFFFFFu);  // host 0 decides
  return st;
}

}  // namespace onet::cross
