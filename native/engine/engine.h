// The per-host engine: one progress thread that watches every local rank's arena, matches
// requests by (group, seq), validates them, executes plans on the Executor's threads and
// completes the slots. JS talks to it only through the methods below (which queue commands
// for the progress thread) and hears back through one event callback.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "algo/local/local.h"
#include "common/proc_alive.h"
#include "common/status.h"
#include "engine/abort.h"
#include "engine/crosshost_state.h"
#include "algo/hier/hier.h"
#include "engine/executor.h"
#include "engine/fusion.h"
#include "engine/lane.h"
#include "engine/match.h"
#include "engine/stats.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "transport/common/options.h"
#include "transport/transport.h"

namespace onet {

struct EngineConfig {
  std::string job;
  int world = 0;
  int threads = 2;
  size_t chunk_bytes = 256 << 10;
  size_t parallel_bytes = 1 << 20;
  int64_t spin_us = 50;
  int64_t timeout_ms = 300000;
  size_t arena_bytes = 256u << 20;    // data region per rank
  uint64_t fusion_bytes = 64u << 20;  // ONET_FUSION_BYTES: largest fused cross-host exchange; 0 = no fusion
  StatsConfig stats;                  // telemetry (engine/stats.h)
};

// How this coordinator reaches the other hosts' coordinators (multi-host jobs only): the
// transport's own options (transport/common/options.h), filled by key from the coordinator.
using NetOptions = net::DeviceOptions;

struct Event {
  std::string kind;  // "done" (flagged slot or any error), "error", "stats"
  int rank = -1;
  int slot = -1;
  int32_t status = 0;
  std::string message;
  uint64_t seq = 0;
  uint32_t group = 0;
  std::string coll;
  uint64_t bytes = 0;
  double micros = 0;
  std::vector<int> ranks;
};

class Engine {
 public:
  using Listener = std::function<void(const Event&)>;
  static Status create(const EngineConfig& cfg, Listener listener, std::unique_ptr<Engine>* out);
  ~Engine();

  // Create rank's arena (named, 0600) and hand it to the progress thread. pid: the process that
  // registered as rank (0: unknown), the only one whose memory its single-copy posts may name.
  Status add_rank(int rank, int local_rank, std::string* arena_name, uint32_t pid = 0);
  void unlink_arena(int rank);  // the rank mapped it
  Status set_group(uint32_t id, const std::vector<int>& ranks);
  void fail_rank(int rank, Code code, const std::string& why);  // died or closed
  void kick();
  std::string ctl_name() const { return ctl_.name(); }
  std::string snapshot_json();       // pending collectives, for `onet status`
  Stats& stats() { return stats_; }  // telemetry: json() / drain_trace_json() from any thread
  void close();

  // Multi-host (engine/network.cc). net_listen creates the transport device and returns the
  // address peers connect to; net_connect (blocking — call it off the JS thread) builds the
  // full mesh and from then on groups that span hosts run hierarchically (algo/hier/hier.h).
  Status net_listen(const NetOptions& o, std::string* addr);
  Status net_connect(int me, const std::vector<std::string>& addrs, const std::vector<int>& host_of_rank,
                     int64_t timeout_ms);
  void set_algo_rules(std::vector<AlgoRule> rules);
  std::string links_json();  // per-peer LinkStats, for telemetry
  // Compression of this group's cross-host allreduces (docs/compression.md); "" = ONET_COMPRESSION again.
  Status set_compression(uint32_t group, const std::string& codec) { return xh_.set_compression(group, codec); }
  std::string compression_json() { return xh_.compression_json(); }  // bytes before/after per codec

 private:
  struct RankState {
    int rank = -1, local_rank = -1;
    ProcId proc;                  // the process that registered (engine/cma.h check_pid)
    bool cma_arena_seen = false;  // proc maps seg: its single-copy posts may name it (check_pid)
    std::unique_ptr<shm::Segment> seg;
    uint64_t seen_posts = 0;
    uint64_t known = 0;  // slots seen POSTED and not yet completed
    bool dead = false;
    std::string dead_why;
    Code dead_code = Code::kAborted;
    uint32_t last_coll = 0, last_group = 0;  // last collective completed OK, for timeout messages
    uint64_t last_seq = 0;
  };
  struct Posted {
    int rank;
    uint32_t idx;
    shm::Slot* slot;
    int64_t t0;
    uint64_t order;
  };
  struct Pending {
    std::vector<Posted> by_grank;    // rank == -1 until it arrives
    std::vector<match::Post> posts;  // the same arrivals as matching reads them (engine/match.h)
    int arrived = 0;
    int64_t t0 = 0;
    std::string poison;  // an arrival was invalid: fail everyone with this
    Code poison_code = Code::kInvalid;
    std::vector<int> poison_ranks;  // the ranks poison concerns (Status::ranks)
  };
  struct Group {
    uint32_t id = 0;
    std::vector<int> ranks;
    std::map<int, int> grank;
    std::map<uint64_t, Pending> pending;
    std::vector<uint64_t> last_seq;  // per group rank
    // Where the members live (layout_group): single-host groups have hosts.size() <= 1.
    int nlocal = 0;  // members on this host: a match needs these
    bool cross = false;
    std::vector<int> hosts;                      // device index per participating host
    std::vector<std::vector<int>> host_members;  // group ranks per participating host
    int my_hidx = -1;
    std::shared_ptr<Lane> lane;      // runs this group's cross-host collectives
    std::shared_ptr<CrossQueue> xq;  // what the lane runs next (engine/fusion.h)
  };

  explicit Engine(const EngineConfig& cfg, Listener l);
  void loop();
  void run_commands();
  bool poll();
  void on_post(RankState& r, uint32_t idx);
  void on_group_post(Group& g, const Posted& p);
  void on_p2p_post(Group& g, const Posted& p);
  void try_match_p2p();
  void execute(Group& g, uint64_t seq, Pending& pd);
  Status disagreement(uint64_t seq, const Pending& pd) const;
  void layout_group(Group& g);
  void execute_cross(Group& g, uint64_t seq, Pending& pd);
  void drain_cross(CrossQueue& q);  // lane thread: run the front item, fused with what follows (fusion.cc)
  void start_remote_send(Group& g, const Posted& p);
  size_t find_remote_send(const Group& g, const Posted& recv, int me) const;
  void deliver_remote(const Group& g, const Posted& recv, size_t idx);
  bool poll_net();  // completes finished cross-host sends/recvs
  // Mid-transfer aborts of cross-host collectives (engine/abort.cc, docs/protocol.md §9).
  bool poll_aborts();                                                                         // progress thread
  void on_abort_notice(int from, const AbortNotice& n);                                       // progress thread
  Status on_cross_failure(CrossJob& j, Status st, bool* relayed, bool ranks_global = false);  // lane thread
  bool is_local(int rank) const { return xh_.is_local(rank); }
  void complete(int rank, uint32_t idx, Code code, const std::string& msg, int32_t src = -1, uint64_t out_count = 0);
  // The one completion path: code, msg and ranks go to the slot and to the event as fields.
  void complete(int rank, uint32_t idx, const Status& st, int32_t src = -1, uint64_t out_count = 0);
  void fail_pending(Group& g, uint64_t seq, Pending& pd, Code code, const std::string& msg);
  void fail_pending(Group& g, uint64_t seq, Pending& pd, const Status& st);
  void check_deadlines(int64_t now);
  std::string last_seen(int rank) const;
  void do_fail_rank(int rank, Code code, const std::string& why);
  void post_cmd(std::function<void()> fn);
  void emit(Event e);

  EngineConfig cfg_;
  Listener listener_;
  shm::Segment ctl_;
  shm::CtlHead* ctlh_ = nullptr;
  Executor exec_;
  Stats stats_;
  std::vector<std::unique_ptr<RankState>> ranks_;  // by global rank (progress thread only)
  std::map<uint32_t, Group> groups_;               // progress thread only
  std::vector<Posted> sends_, recvs_;              // unmatched point-to-point, arrival order
  uint64_t order_ = 0;
  std::mutex cmd_mu_;
  std::vector<std::function<void()>> cmds_;
  std::atomic<bool> has_cmds_{false};
  std::atomic<bool> stop_{false};
  std::mutex snap_mu_;
  std::string snapshot_;
  std::thread thread_;
  // The other hosts: device, host map, rules, lanes, mailboxes, abort notices (crosshost_state.h).
  CrossHostState xh_;
  using Envelope = CrossHostState::Envelope;
  using NetP2p = CrossHostState::NetP2p;
  using Mailbox = CrossHostState::Mailbox;
  using RemoteSend = CrossHostState::RemoteSend;
  using AbortBox = CrossHostState::AbortBox;
  using Aborted = CrossHostState::Aborted;
};

}  // namespace onet
