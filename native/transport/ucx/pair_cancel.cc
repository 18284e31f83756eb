// UCX pair, giving up on a tag range (Pair::cancel, transport.h): what an aborted cross-host
// collective leaves on a link. The contract is TcpPair::cancel's (tcp/pair_cancel.cc):
//  - receives of the range that are posted now complete at once with `why`: the progress thread
//    completes their ReqState first, then ucp_request_cancel()s them. A receive UCP has not
//    matched yet is removed from its expected queue and its callback runs inside that call
//    (UCS_ERR_CANCELED, ignored: the first completion wins), so its buffer is never written. A
//    receive UCP already matched (a rendezvous or a multi-fragment eager message mid-arrival) is
//    not cancellable; UCP finishes writing it and then calls back, again ignored. That write
//    after the failure is safe for the same reason as TCP's chunk mid-read: cross-host receives
//    land in the job's staging, and a failed job's staging lives until the device closes
//    (Engine::failed_jobs_).
//  - receives posted later for a tag of the range complete at once (submit(), post()), from the
//    list of the last CancelledTags::kMax ranges (common/cancelled.h), as in TCP;
//  - messages of the range that already arrived, or arrive later, are received into nothing
//    (ucp_tag_probe_nb(remove) + ucp_tag_msg_recv_nbx of length 0: UCP truncates, so no byte is
//    written, and a rendezvous sender still gets its acknowledgement and completes). UCP would
//    otherwise keep them in its unexpected queue for ever. The progress thread drains at the
//    cancel and then every kDrainMs after the worker saw traffic.
// Every UCP call runs on the progress thread, which owns the workers (device.h); cancel() itself
// only records the range and wakes it.
#include "transport/ucx/device.h"

namespace onet::net::ucx {
namespace {

// Calls f(tag, mask) for the aligned power-of-two blocks that tile [lo, hi] exactly (at most
// 128; one for a collective's range, group<<48 | seq<<16 | 0..0xFFFF). UCP matches by
// (tag & mask) == (want & mask), so a range needs this split.
template <class F>
void for_blocks(uint64_t lo, uint64_t hi, F f) {
  while (lo <= hi) {
    if (lo == 0 && hi == ~uint64_t(0)) return f(lo, uint64_t(0));
    int k = lo ? __builtin_ctzll(lo) : 63;
    while (k > 0 && ((uint64_t(1) << k) - 1) > hi - lo) k--;
    const uint64_t span = (uint64_t(1) << k) - 1;
    f(lo, ~span);
    if (lo + span == hi) return;
    lo += span + 1;
  }
}

}  // namespace

void UcxPair::cancel(uint64_t lo, uint64_t hi, const Status& why) {
  if (lo > hi) return;
  {
    std::lock_guard<std::mutex> g(mu_);
    cancelled_.add(lo, hi, why);
    to_cancel_.push_back({lo, hi, why});
    has_cancelled_.store(true, std::memory_order_release);
  }
  dev_->wake();  // no progress thread (closed): its receives have failed already
}

bool UcxPair::refuse_cancelled(Op* op) {
  if (!has_cancelled_.load(std::memory_order_acquire)) return false;
  Status why;
  {
    std::lock_guard<std::mutex> g(mu_);
    const TagRange* c = cancelled(op->tag);
    if (!c) return false;
    why = c->why;
  }
  op->st->complete(why);
  delete op;
  return true;
}

void UcxPair::run_cancels() {
  if (!has_cancelled_.load(std::memory_order_acquire)) return;
  std::deque<TagRange> todo;
  {
    std::lock_guard<std::mutex> g(mu_);
    todo.swap(to_cancel_);
  }
  for (const TagRange& c : todo) {
    std::vector<Op*> hit;
    for (Op* op : inflight_)
      if (!op->send && op->tag >= c.lo && op->tag <= c.hi) hit.push_back(op);
    for (Op* op : hit) {
      if (!inflight_.count(op)) continue;  // completed by an earlier cancel's callback
      op->st->complete(c.why);             // the engine learns it now; later completions are ignored
      if (op->ucp_req) ucp_request_cancel(worker_, op->ucp_req);  // unmatched: done() runs (and deletes op) here
    }
    drain(c.lo, c.hi);
  }
}

void UcxPair::drain_if_active() {
  if (!active_ || failed_) return;
  active_ = false;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (const TagRange& c : cancelled_) ranges.emplace_back(c.lo, c.hi);
  }
  for (auto [lo, hi] : ranges) drain(lo, hi);
}

void UcxPair::drain(uint64_t lo, uint64_t hi) {
  static char nothing;  // length 0: never written
  for_blocks(lo, hi, [&](uint64_t tag, uint64_t mask) {
    ucp_tag_recv_info_t info;
    while (ucp_tag_message_h m = ucp_tag_probe_nb(worker_, tag, mask, 1, &info)) {
      ucp_request_param_t p{};
      p.op_attr_mask = UCP_OP_ATTR_FIELD_DATATYPE;
      p.datatype = ucp_dt_make_contig(1);
      ucs_status_ptr_t r = ucp_tag_msg_recv_nbx(worker_, &nothing, 0, m, &p);
      // No callback: UCP frees a request still in progress (a rendezvous) once it completes.
      if (UCS_PTR_IS_PTR(r)) ucp_request_free(r);
    }
  });
}

}  // namespace onet::net::ucx
