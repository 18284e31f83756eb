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
#include "common/status.h"
#include "engine/abort.h"
#include "engine/crosshost.h"
#include "engine/executor.h"
#include "engine/fusion.h"
#include "engine/lane.h"
#include "engine/stats.h"
#include "shm/layout.h"
#include "shm/segment.h"
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
  size_t arena_bytes = 256u << 20;  // data region per rank
  uint64_t fusion_bytes = 64u << 20;  // ONET_FUSION_BYTES: largest fused cross-host exchange; 0 = no fusion
  StatsConfig stats;                // telemetry (engine/stats.h)
};

// How this coordinator reaches the other hosts' coordinators (multi-host jobs only).
struct NetOptions {
  std::string transport = "tcp";  // "tcp" | "ucx"
  std::string bind_ip = "127.0.0.1";
  int port = 0;
  int streams = 2;
  bool checksum = true;
  size_t zerocopy_bytes = 0;
  uint32_t job_hash = 0;
  int heartbeat_ms = 0;       // ONET_HEARTBEAT_MS (tcp, ucx): a peer silent 3x this long is failed
  int test_corrupt_every = 0; // ONET_TEST_CORRUPT (tcp, tests only): corrupt every n-th frame after its CRC
  std::string tls_cert, tls_key, tls_ca;  // tcp: encrypted data path (ONET_TLS_*, ONET_TLS_DATA); empty: plaintext
};

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

  // Create rank's arena (named, 0600) and hand it to the progress thread.
  Status add_rank(int rank, int local_rank, std::string* arena_name);
  void unlink_arena(int rank);                       // the rank mapped it
  Status set_group(uint32_t id, const std::vector<int>& ranks);
  void fail_rank(int rank, Code code, const std::string& why);  // died or closed
  void kick();
  std::string ctl_name() const { return ctl_.name(); }
  std::string snapshot_json();                       // pending collectives, for `onet status`
  Stats& stats() { return stats_; }                   // telemetry: json() / drain_trace_json() from any thread
  void close();

  // Multi-host (engine/network.cc). net_listen creates the transport device and returns the
  // address peers connect to; net_connect (blocking — call it off the JS thread) builds the
  // full mesh and from then on groups that span hosts run hierarchically (engine/crosshost.h).
  Status net_listen(const NetOptions& o, std::string* addr);
  Status net_connect(int me, const std::vector<std::string>& addrs, const std::vector<int>& host_of_rank, int64_t timeout_ms);
  void set_algo_rules(std::vector<AlgoRule> rules);
  std::string links_json();  // per-peer LinkStats, for telemetry

 private:
  struct RankState {
    int rank = -1, local_rank = -1;
    std::unique_ptr<shm::Segment> seg;
    uint64_t seen_posts = 0;
    uint64_t known = 0;      // slots seen POSTED and not yet completed
    bool dead = false;
    std::string dead_why;
    Code dead_code = Code::kAborted;
    uint32_t last_coll = 0, last_group = 0;  // last collective completed OK, for timeout messages
    uint64_t last_seq = 0;
  };
  struct Posted { int rank; uint32_t idx; shm::Slot* slot; int64_t t0; uint64_t order; };
  struct Pending {
    std::vector<Posted> by_grank;  // rank == -1 until it arrives
    int arrived = 0;
    int64_t t0 = 0;
    std::string poison;            // an arrival was invalid: fail everyone with this
    Code poison_code = Code::kInvalid;
  };
  struct Group {
    uint32_t id = 0;
    std::vector<int> ranks;
    std::map<int, int> grank;
    std::map<uint64_t, Pending> pending;
    std::vector<uint64_t> last_seq;  // per group rank
    // Where the members live (layout_group): single-host groups have hosts.size() <= 1.
    int nlocal = 0;                               // members on this host: a match needs these
    bool cross = false;
    std::vector<int> hosts;                       // device index per participating host
    std::vector<std::vector<int>> host_members;   // group ranks per participating host
    int my_hidx = -1;
    std::shared_ptr<Lane> lane;                   // runs this group's cross-host collectives
    std::shared_ptr<CrossQueue> xq;               // what the lane runs next (engine/fusion.h)
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
  std::string disagreement(const Group& g, uint64_t seq, const Pending& pd) const;
  void layout_group(Group& g);
  void execute_cross(Group& g, uint64_t seq, Pending& pd);
  void drain_cross(CrossQueue& q);  // lane thread: run the front item, fused with what follows (fusion.cc)
  void start_remote_send(Group& g, const Posted& p);
  size_t find_remote_send(const Group& g, const Posted& recv, int me) const;
  void deliver_remote(const Group& g, const Posted& recv, size_t idx);
  void post_mailboxes();
  bool poll_net();  // completes finished cross-host sends/recvs
  // Mid-transfer aborts of cross-host collectives (engine/abort.cc, docs/protocol.md §9).
  void post_abort_boxes();
  bool poll_aborts();                                        // progress thread
  void on_abort_notice(int from, const AbortNotice& n);  // progress thread
  Status on_cross_failure(CrossJob& j, Status st, bool* relayed);  // lane thread
  bool is_local(int rank) const { return host_of_rank_.empty() || host_of_rank_[rank] == my_host_; }
  void complete(int rank, uint32_t idx, Code code, const std::string& msg, int32_t src = -1, uint64_t out_count = 0);
  void fail_pending(Group& g, uint64_t seq, Pending& pd, Code code, const std::string& msg);
  void check_deadlines(int64_t now);
  std::string last_seen(int rank) const;
  std::string lost_ranks(const std::string& transport_msg) const;  // network.cc
  void do_fail_rank(int rank, Code code, const std::string& why);
  std::string validate(const Group& g, const shm::Slot& s, int grank) const;
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
  std::unique_ptr<net::Device> dev_;
  std::vector<int> host_of_rank_;   // empty: every rank is on this host
  int my_host_ = 0;
  std::mutex rules_mu_;
  std::vector<AlgoRule> rules_ = default_algo_rules();
  // Cross-host point-to-point: the sender's coordinator sends an envelope and the payload to
  // the receiver's coordinator, which keeps it as a remote send until a recv matches it
  // (so recv-from-any-source and larger recv buffers work as on one host).
  struct Envelope { uint32_t group; int32_t src, dst; uint32_t dtype; uint64_t tag, count, bytes; };
  struct NetP2p { std::unique_ptr<net::Request> req, req2; std::unique_ptr<Envelope> env; int rank; uint32_t idx; int64_t t0; std::string label; };
  struct RemoteSend { Envelope env; std::vector<char> data; int64_t t0; };
  struct Mailbox { std::unique_ptr<net::Request> env_req, pay_req; Envelope env{}; std::vector<char> pay; bool failed = false; };
  std::deque<RemoteSend> remote_sends_;
  std::map<int, Mailbox> mailboxes_;  // by peer host
  std::vector<NetP2p> net_p2p_;     // progress thread only
  std::vector<std::unique_ptr<net::Request>> net_stale_;
  std::vector<std::shared_ptr<CrossJob>> failed_jobs_;  // under rules_mu_; freed after dev_->close()
  // Abort notices (engine/abort.cc): one posted receive per peer host, and what they told us.
  struct AbortBox { std::unique_ptr<net::Request> req; std::unique_ptr<AbortNotice> n; bool failed = false; };
  struct Aborted { Code code; std::string msg; };
  std::map<int, AbortBox> abort_boxes_;  // by peer host; progress thread only
  std::mutex abort_mu_;
  std::map<std::pair<uint32_t, uint64_t>, Aborted> aborted_;  // under abort_mu_: (group, seq) a peer aborted
};

}  // namespace onet
