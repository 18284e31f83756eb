// Engine lifecycle, the progress loop and completions. Matching lives in matcher.cc.
#include "engine/engine.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "shm/futex.h"
#include "shm/spin_policy.h"

namespace onet {

Engine::Engine(const EngineConfig& cfg, Listener l)
    : cfg_(cfg),
      listener_(std::move(l)),
      exec_(cfg.threads, cfg.chunk_bytes, cfg.parallel_bytes),
      stats_(cfg.world, cfg.stats) {}

Status Engine::create(const EngineConfig& cfg, Listener listener, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> e(new Engine(cfg, std::move(listener)));
  shm::clean_stale(cfg.job);
  std::string name = "/onet-" + cfg.job + "-" + std::to_string(getpid()) + "-ctl";
  Status st = shm::Segment::create(name, shm::kCtlBytes, &e->ctl_);
  if (!st.ok()) return st;
  e->ctlh_ = static_cast<shm::CtlHead*>(e->ctl_.base());
  e->ctlh_->magic = shm::kMagic;
  e->ctlh_->version = shm::kLayoutVersion;
  e->ctlh_->coord_pid = uint32_t(getpid());
  e->ctlh_->world = uint32_t(cfg.world);
  e->ranks_.resize(cfg.world);
  if (cfg.world > 0) {
    Group g;
    for (int r = 0; r < cfg.world; r++) {
      g.ranks.push_back(r);
      g.grank[r] = r;
    }
    g.last_seq.assign(cfg.world, 0);
    g.nlocal = cfg.world;
    e->groups_[0] = std::move(g);
  }
  e->thread_ = std::thread([p = e.get()] { p->loop(); });
  *out = std::move(e);
  return Status::Ok();
}

Engine::~Engine() { close(); }

void Engine::close() {
  if (stop_.exchange(true)) return;
  if (ctlh_) ctlh_->closing.store(1);
  kick();
  if (thread_.joinable()) thread_.join();
  // Fail in-flight network requests so the lanes finish, then join them.
  xh_.close_device();
  groups_.clear();
  xh_.clear();
  // Ranks still waiting learn it from ctl.closing; wake them all.
  for (auto& r : ranks_)
    if (r && r->seg) {
      auto* cl = shm::coord_line(r->seg->base());
      cl->done_futex.fetch_add(1);
      shm::futex_wake(&cl->done_futex, 1 << 30);
    }
}

void Engine::kick() {
  if (!ctlh_) return;
  ctlh_->bell.fetch_add(1);
  shm::futex_wake(&ctlh_->bell, 1);
}

void Engine::post_cmd(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(cmd_mu_);
    cmds_.push_back(std::move(fn));
    has_cmds_.store(true);
  }
  kick();
}

void Engine::run_commands() {
  std::vector<std::function<void()>> cmds;
  {
    std::lock_guard<std::mutex> g(cmd_mu_);
    cmds.swap(cmds_);
    has_cmds_.store(false);
  }
  for (auto& c : cmds) c();
}

Status Engine::add_rank(int rank, int local_rank, std::string* arena_name, uint32_t pid) {
  if (rank < 0 || rank >= cfg_.world)
    return {Code::kInvalid,
            "rank " + std::to_string(rank) + " is out of range for world size " + std::to_string(cfg_.world)};
  auto rs = std::make_shared<RankState>();
  rs->rank = rank;
  rs->local_rank = local_rank;
  rs->proc = proc_identify(pid_t(pid));
  rs->seg = std::make_unique<shm::Segment>();
  std::string name = "/onet-" + cfg_.job + "-" + std::to_string(getpid()) + "-r" + std::to_string(rank);
  // A previous registration of this rank (dead or closed) may still hold the name.
  shm::Segment stale;
  if (shm::Segment::open(name, &stale).ok()) { stale.unlink(); }
  Status st = shm::Segment::create(name, shm::kDataOffset + cfg_.arena_bytes, rs->seg.get());
  if (!st.ok()) return st;
  void* base = rs->seg->base();
  auto* h = shm::head_of(base);
  h->magic = shm::kMagic;
  h->version = shm::kLayoutVersion;
  h->rank = uint32_t(rank);
  h->world = uint32_t(cfg_.world);
  h->data_offset = shm::kDataOffset;
  h->data_bytes = cfg_.arena_bytes;
  h->slots = shm::kSlots;
  h->slot_bytes = shm::kSlotBytes;
  h->coord_pid = uint32_t(getpid());
  h->local_rank = uint32_t(local_rank);
  *arena_name = name;
  post_cmd([this, rs]() mutable {
    auto& slot = ranks_[rs->rank];
    if (slot && slot->seg) slot->seg->unlink();
    slot.reset(new RankState(std::move(*rs)));
  });
  return Status::Ok();
}

void Engine::unlink_arena(int rank) {
  post_cmd([this, rank] {
    if (rank >= 0 && rank < int(ranks_.size()) && ranks_[rank] && ranks_[rank]->seg) ranks_[rank]->seg->unlink();
  });
}

Status Engine::set_group(uint32_t id, const std::vector<int>& ranks) {
  for (int r : ranks)
    if (r < 0 || r >= cfg_.world)
      return {Code::kInvalid, "group " + std::to_string(id) + ": rank " + std::to_string(r) +
                                  " is out of range for world size " + std::to_string(cfg_.world)};
  post_cmd([this, id, ranks] {
    auto it = groups_.find(id);
    if (it != groups_.end() && it->second.ranks == ranks) return;  // every member re-sends it
    xh_.z_drop_group(id);  // a new group under this id: its error-feedback residuals start over
    Group g;
    g.id = id;
    g.ranks = ranks;
    for (size_t i = 0; i < ranks.size(); i++) g.grank[ranks[i]] = int(i);
    g.last_seq.assign(ranks.size(), 0);
    layout_group(g);
    groups_[id] = std::move(g);
  });
  return Status::Ok();
}

void Engine::fail_rank(int rank, Code code, const std::string& why) {
  post_cmd([this, rank, code, why] { do_fail_rank(rank, code, why); });
}

void Engine::emit(Event e) {
  if (listener_) listener_(e);
}

void Engine::complete(int rank, uint32_t idx, Code code, const std::string& msg, int32_t src, uint64_t out_count) {
  complete(rank, idx, Status(code, msg), src, out_count);
}

void Engine::complete(int rank, uint32_t idx, const Status& st, int32_t src, uint64_t out_count) {
  const Code code = st.code;
  const std::string& msg = st.msg;
  std::vector<int> blamed = st.ranks;  // ascending, once each: the slot and the event say the same
  std::sort(blamed.begin(), blamed.end());
  blamed.erase(std::unique(blamed.begin(), blamed.end()), blamed.end());
  RankState* r = ranks_[rank].get();
  if (!r || !r->seg) return;
  void* base = r->seg->base();
  shm::Slot* s = shm::slot_at(base, idx);
  s->status = int32_t(code);
  s->src = src;
  s->out_count = out_count;
  size_t n = std::min(msg.size(), shm::kSlotMsgBytes - 1);
  memcpy(s->msg, msg.data(), n);
  s->msg[n] = 0;
  s->nranks = uint32_t(std::min<size_t>(blamed.size(), shm::kSlotMaxRanks));
  for (uint32_t i = 0; i < s->nranks; i++) s->ranks[i] = int32_t(blamed[i]);
  bool notify = s->flags & 1;
  uint64_t seq = s->seq;
  if (code == Code::kOk && seq) {  // "last seen in allreduce #7" in a later timeout (matcher.cc)
    r->last_coll = s->coll;
    r->last_group = s->group;
    r->last_seq = seq;
  }
  s->state.store(code == Code::kOk ? shm::kDone : shm::kError, std::memory_order_release);
  r->known &= ~(uint64_t(1) << idx);
  stats_.on_complete(code);
  auto* cl = shm::coord_line(base);
  cl->done_futex.fetch_add(1);  // a locked RMW: full fence before reading rank_waiting
  if (cl->rank_waiting.load()) shm::futex_wake(&cl->done_futex, 1 << 30);
  if (notify || code != Code::kOk) {
    Event e;
    e.kind = notify ? "done" : "error";
    e.rank = rank;
    e.slot = int(idx);
    e.status = int32_t(code);
    e.message = msg;
    e.ranks = std::move(blamed);
    e.seq = seq;
    emit(std::move(e));
  }
}

bool Engine::poll() {
  bool did = false;
  for (auto& rp : ranks_) {
    RankState* r = rp.get();
    if (!r || !r->seg) continue;
    void* base = r->seg->base();
    uint64_t pc = shm::rank_line(base)->post_count.load(std::memory_order_acquire);
    if (pc == r->seen_posts) continue;
    r->seen_posts = pc;
    // Slots are reused in any order, so handle this batch by sequence number: a rank that
    // posted #7 then #8 must not be seen posting #8 first.
    uint32_t fresh[shm::kSlots];
    int nf = 0;
    for (uint32_t i = 0; i < shm::kSlots; i++) {
      if (r->known & (uint64_t(1) << i)) continue;
      const shm::Slot* sl = shm::slot_at(base, i);
      if (sl->state.load(std::memory_order_acquire) != shm::kPosted) continue;
      // Posted after post_count was read, i.e. during this scan: an older post may still be
      // invisible in a slot already passed, so leave it for the next scan (clients that write
      // post_no; post_count moves on for it, so that scan comes).
      if (sl->post_no > pc) continue;
      r->known |= uint64_t(1) << i;
      fresh[nf++] = i;
    }
    // Point-to-point posts all carry seq 0: order them by the rank's post number when it
    // wrote one (offset 96), so a burst of sends that wrapped around the slots stays in order.
    std::stable_sort(fresh, fresh + nf, [base](uint32_t a, uint32_t b) {
      const shm::Slot *sa = shm::slot_at(base, a), *sb = shm::slot_at(base, b);
      if (sa->post_no && sb->post_no) return sa->post_no < sb->post_no;
      return sa->seq < sb->seq;
    });
    for (int j = 0; j < nf; j++) on_post(*r, fresh[j]);
    did |= nf > 0;
  }
  return did;
}

void Engine::loop() {
  int64_t last_beat = 0, idle_since = shm::now_ns();
  // Adaptive waiting (shm/spin_policy.h): the spin budget follows the gaps between posts, the
  // mode (busy, yield, sleep at once) follows the host's runnable tasks, sampled every 5 ms.
  shm::LoadSampler load;
  const shm::SpinLimits lim = shm::spin_limits_from_env();
  int64_t budget_us = cfg_.spin_us;
  shm::SpinPlan plan = shm::spin_plan(budget_us, load.sample(idle_since), load.cores);
  bool idle = false, slept = false;  // inside an idle period; it included a futex sleep
  while (!stop_.load(std::memory_order_relaxed)) {
    if (has_cmds_.load(std::memory_order_acquire)) run_commands();
    bool did = poll();
    if (!xh_.mailboxes.empty()) did |= poll_net();
    int64_t now = shm::now_ns();
    if (now - last_beat > 50'000'000) {
      ctlh_->heartbeat.fetch_add(1);
      check_deadlines(now);
      last_beat = now;
    }
    if (did) {
      if (idle) budget_us = shm::spin_update(budget_us, (now - idle_since) / 1000, !slept, lim);
      idle = slept = false;
      idle_since = now;
      continue;
    }
    if (!idle) {  // a new idle period: decide how to spend it
      idle = true;
      const bool few_cores = load.cores <= int(ranks_.size());
      plan = lim.max_us > 0 ? shm::spin_plan(budget_us, load.sample(now), load.cores)
                            // ONET_SPIN_MAX_US=0: the fixed spin of earlier releases
                            : shm::SpinPlan{few_cores ? shm::SpinMode::yield : shm::SpinMode::busy, cfg_.spin_us};
    }
    if (!slept && now - idle_since < plan.spin_us * 1000) {
      if (plan.mode == shm::SpinMode::yield) sched_yield();
      else __builtin_ia32_pause();
      continue;
    }
    uint32_t v = ctlh_->bell.load();
    ctlh_->coord_sleeping.store(1);  // seq_cst: ordered before the re-check below
    // Cross-host sends/recvs (and abort notices) finish on the transport's thread, which does not ring the bell.
    bool found = false;
    if (!has_cmds_.load() && !(found = poll()) && !stop_.load())
      shm::futex_wait(&ctlh_->bell, v, xh_.mailboxes.empty() ? 50'000 : xh_.net_p2p.empty() ? 1000 : 200);
    ctlh_->coord_sleeping.store(0);
    if (found) {  // posts came while going to sleep: the idle period ends here, as with `did` above
      budget_us = shm::spin_update(budget_us, (shm::now_ns() - idle_since) / 1000, !slept, lim);
      idle = slept = false;
      idle_since = shm::now_ns();
    } else {
      slept = true;  // the idle period goes on (idle_since kept) until work comes
    }
  }
}

std::string Engine::snapshot_json() {
  std::lock_guard<std::mutex> g(snap_mu_);
  return snapshot_.empty() ? "[]" : snapshot_;
}

}  // namespace onet
