// What this coordinator keeps about the other hosts of a multi-host job, in one place: the
// transport device and where every rank lives, the algorithm rules, one lane per group that spans
// hosts, the point-to-point mailboxes, and the abort notices (docs/protocol.md §9). The engine's
// progress thread and its lanes act on it (network.cc, abort.cc, fusion.cc); this unit owns the
// data and the operations that need nothing else of the engine.
//
// Threads: the progress thread owns everything not marked otherwise; rules and failed jobs are
// under rules_mu (lanes read the rules and park failed jobs); aborted is under abort_mu (lanes
// look up whether a peer aborted their collective).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "algo/hier/hier.h"
#include "codec/codec.h"
#include "common/status.h"
#include "engine/abort.h"
#include "engine/lane.h"
#include "transport/common/options.h"
#include "transport/transport.h"

namespace onet {

struct CrossHostState {
  // ---- the device and the host map (set once by listen/connect) ----
  std::unique_ptr<net::Device> dev;
  std::vector<int> host_of_rank;  // empty: every rank is on this host
  int my_host = 0;

  bool is_local(int rank) const { return host_of_rank.empty() || host_of_rank[rank] == my_host; }
  Status listen(const net::DeviceOptions& o, std::string* addr);
  // A transport error names hosts in its ranks (transport.h): they become the global ranks of those
  // hosts; for kAborted the returned text says so ("; ranks 4, 5 (host 2) are lost").
  std::string lost_ranks(Status& transport_status) const;
  std::string links_json() const;  // per-peer LinkStats, for telemetry

  // ---- algorithm rules (the scheduler's table) and jobs kept after failure; under rules_mu ----
  std::mutex rules_mu;
  std::vector<AlgoRule> rules = default_algo_rules();
  std::vector<std::shared_ptr<CrossJob>> failed_jobs;  // the transport may still write into their staging
  void set_rules(std::vector<AlgoRule> r);
  std::vector<AlgoRule> rules_now();
  void keep_failed(std::shared_ptr<CrossJob> j);

  // ---- compression (docs/compression.md); under z_mu (lanes take residuals, the progress thread the rest) ----
  // ONET_COMPRESSION is read once at construction; a group's choice (set_compression) overrides it, a call's
  // slot flags (spec/layout.json slotFlags: compression, ef_key) override both. Residuals of error feedback
  // are kept per (group, key) and dropped when the group is re-created or the engine closes.
  std::mutex z_mu;
  codec::Spec z_default;
  bool z_auto = false;  // ONET_COMPRESSION=auto: resolved per call by z_choose from the link figures
  std::string z_error;  // a bad ONET_COMPRESSION: every cross-host allreduce fails with it (kInvalid)
  std::map<uint32_t, codec::Spec> z_group;
  std::map<std::pair<uint32_t, uint32_t>, std::shared_ptr<std::vector<float>>> residuals;
  struct ZCount {
    uint64_t calls = 0, raw_bytes = 0, sent_bytes = 0;
  };
  std::map<std::string, ZCount> z_counts;  // per codec name: bytes before and after compression
  CrossHostState();
  Status set_compression(uint32_t group, const std::string& text);  // "" = back to ONET_COMPRESSION
  // The codec for one call of `group` with slot flags `flags` (kind override, ef key); *res: its residual.
  void z_choose(uint32_t group, uint32_t flags, CrossJob* job);  // sets codec / z_auto + proposal / residual
  // auto: the link throughput seen by uncompressed cross-host allreduces of >= 1 MiB (EWMA, bytes/s) and this
  // host's codec speed (measured once); every 32nd large call is proposed uncompressed to measure again.
  double z_link_bps = 0;
  uint64_t z_auto_large = 0;
  double z_enc_bps[8] = {}, z_dec_bps[8] = {};
  void z_observe(const CrossJob& job, double seconds);
  void z_count(const std::string& codec, uint64_t raw, uint64_t sent);
  void z_drop_group(uint32_t group);
  std::string compression_json();

  // ---- lanes: one thread per group that spans hosts (engine/lane.h) ----
  std::map<uint32_t, std::shared_ptr<Lane>> lanes;
  std::shared_ptr<Lane> lane(uint32_t group);  // created on first use

  // ---- cross-host point-to-point ----
  // The sender's coordinator sends an envelope and the payload to the receiver's coordinator,
  // which keeps it as a remote send until a recv matches it (so recv-from-any-source and larger
  // recv buffers work as on one host). Two fixed tags per host pair; the transport keeps each
  // tag in order, so the k-th payload follows the k-th envelope.
  struct Envelope {
    uint32_t group;
    int32_t src, dst;
    uint32_t dtype;
    uint64_t tag, count, bytes;
  };
  struct NetP2p {
    std::unique_ptr<net::Request> req, req2;
    std::unique_ptr<Envelope> env;
    int rank;
    uint32_t idx;
    int64_t t0;
    std::string label;
  };
  struct RemoteSend {
    Envelope env;
    std::vector<char> data;
    int64_t t0;
  };
  struct Mailbox {
    std::unique_ptr<net::Request> env_req, pay_req;
    Envelope env{};
    std::vector<char> pay;
    bool failed = false;
  };
  static constexpr uint64_t kTagEnvelope = (1ull << 63) | (1ull << 62) | 1;
  static constexpr uint64_t kTagPayload = (1ull << 63) | (1ull << 62) | 2;
  std::deque<RemoteSend> remote_sends;
  std::map<int, Mailbox> mailboxes;                      // by peer host
  std::vector<NetP2p> net_p2p;                           // sends in flight
  std::vector<std::unique_ptr<net::Request>> net_stale;  // timed out, still owned by the transport
  void post_mailboxes();
  // Moves every envelope + payload that arrived into remote_sends (stamped `now`); true if any did.
  bool receive_mailboxes(int64_t now);

  // ---- abort notices (engine/abort.cc) ----
  struct AbortBox {
    std::unique_ptr<net::Request> req;
    std::unique_ptr<AbortNotice> n;
    bool failed = false;
  };
  struct Aborted {
    Code code;
    std::string msg;
    std::vector<int> ranks;
  };                                    // ranks: the aborting host's
  std::map<int, AbortBox> abort_boxes;  // by peer host
  std::mutex abort_mu;
  std::map<std::pair<uint32_t, uint64_t>, Aborted> aborted;  // under abort_mu: (group, seq) a peer aborted
  void post_abort_boxes();
  bool remember_abort(uint32_t group, uint64_t seq, Aborted a);  // false: already known (a second copy)
  bool find_abort(uint32_t group, uint64_t seq, Aborted* out);
  void cancel_everywhere(uint64_t lo, uint64_t hi, const Status& why);  // every link but our own

  // Engine::close: fail every request in flight (lanes finish), then drop the rest.
  void close_device();
  void clear();  // after the groups are gone: joins the lanes, frees requests, mailboxes, failed jobs
};

}  // namespace onet
