// TCP pair: the `streams` sockets to one peer host, their send queues and frame reassembly,
// and receive matching in per-pair message order. Locks, outermost first: TcpPair::send_mu_ →
// Stream::smu; TcpPair::mu_ alone; ReqState's mutex is a leaf. Only the device's progress
// thread reads sockets and fails the pair (so no buffer is written after its request
// completed); any thread may write. pair.cc (set-up, failure, heartbeats), pair_send.cc,
// pair_recv.cc, pair_cancel.cc.
#pragma once
#include <sys/uio.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "transport/common/cancelled.h"
#include "transport/common/liveness.h"
#include "transport/common/request.h"
#include "transport/tcp/aead.h"
#include "transport/tcp/frame.h"
#include "transport/transport.h"

namespace onet::net::tcp {

class TcpDevice;
class TcpPair;

struct SendState : ReqState {
  using ReqState::ReqState;
  std::atomic<int> frames_left{0};
};
struct RecvState : ReqState {
  RecvState(void* b, size_t n, uint64_t tag, std::shared_ptr<const std::string> peer)
      : ReqState("recv", n, tag, std::move(peer)), buf(static_cast<char*>(b)) {}
  char* buf;
};

struct OutFrame {
  FrameHeader hdr{};
  const char* payload = nullptr;
  uint32_t len = 0;
  size_t sent = 0;                  // of sizeof(hdr) + len
  bool zerocopy = false;            // send with MSG_ZEROCOPY
  int zc_pending = 0;               // MSG_ZEROCOPY sends not yet confirmed by the error queue
  std::unique_ptr<char[]> corrupt;  // test hook: payload copy with a flipped byte
  std::shared_ptr<SendState> req;
  // Encrypted links (hdr.flags & kFlagSealed): sealed by flush() in socket order, so the
  // nonces follow frame order; the ciphertext goes to `cipher`, never into the caller's buffer.
  std::unique_ptr<char[]> cipher;
  bool sealed = false;
  bool corrupt_sealed = false;  // test hook: flip a ciphertext byte after sealing
  uint8_t mac[kMacBytes];
};

struct Stream {
  TcpPair* pair = nullptr;
  int index = 0;
  int fd = -1;
  // Send side, under smu.
  std::mutex smu;
  std::deque<std::unique_ptr<OutFrame>> q;
  bool want_out = false;
  uint32_t tx_frame_seq = 0;
  bool zc_ok = false;  // SO_ZEROCOPY accepted by the kernel
  uint32_t zc_next = 0;
  std::unordered_map<uint32_t, OutFrame*> zc_ids;
  std::unordered_map<OutFrame*, std::unique_ptr<OutFrame>> zc_hold;  // written, awaiting completion
  std::unique_ptr<FrameCipher> tx_aead, rx_aead;                     // encrypted link only (TcpOptions::tls_*)
  std::string tx_error;  // set when a write failed; the progress thread reports it
  bool closed = false;   // the pair failed: complete new frames at once instead of queueing
  // Receive side, progress thread only.
  FrameHeader hdr{};
  size_t hdr_got = 0;
  bool in_payload = false;
  char* dest = nullptr;  // nullptr: discard the payload
  bool dest_is_user = false;
  size_t pay_got = 0;
  uint32_t crc = 0;
  uint32_t rx_frame_seq = 0;
  uint8_t rx_mac[kMacBytes];  // encrypted link: the tag read after the header
  bool rx_auth_ok = true;     // encrypted link: the last payload opened cleanly
};

class TcpPair final : public Pair {
 public:
  TcpPair(TcpDevice* dev, int peer, std::string addr, std::vector<int> fds, const std::vector<StreamKeys>& keys);
  ~TcpPair() override;
  int peer() const override { return peer_; }
  std::unique_ptr<Request> isend(const void* buf, size_t bytes, uint64_t tag) override;
  std::unique_ptr<Request> irecv(void* buf, size_t bytes, uint64_t tag) override;
  void cancel(uint64_t lo, uint64_t hi, const Status& why) override;  // pair_cancel.cc

  // Progress thread.
  void on_event(Stream& s, uint32_t events);
  void fail(const Status& st);  // progress thread, or close() after the thread stopped
  bool failed() const { return failed_; }
  std::vector<std::unique_ptr<Stream>>& streams() { return streams_; }
  LinkStats stats() const;
  const std::string& name() const { return *name_; }
  // Progress thread: send a heartbeat when idle; fail the pair when the peer is silent too long.
  void heartbeat(int64_t now_ms);

 private:
  struct InMsg {
    uint64_t tag = 0, bytes = 0, done_bytes = 0;
    bool complete = false, discard = false;
    Status failed;  // a chunk failed its checksum
    std::shared_ptr<RecvState> recv;
    std::unique_ptr<char[]> staging;  // chunks that arrived before the receive was matched
    std::vector<std::pair<uint64_t, uint32_t>> staged;
  };
  struct TagQ {
    std::deque<std::shared_ptr<RecvState>> posted;
    std::deque<uint64_t> unexpected;  // msg_seq of eligible, unmatched messages
  };

  bool flush(Stream& s);  // under s.smu; false on a socket error (s.tx_error set)
  void frame_written(OutFrame* f);
  void drain_errqueue(Stream& s);
  void on_readable(Stream& s);
  std::string begin_chunk(Stream& s);  // under mu_; "" or a protocol error
  void finish_chunk(Stream& s);
  void match(uint64_t seq, InMsg& m, std::shared_ptr<RecvState> r);  // under mu_
  void finalize(uint64_t seq, InMsg& m);                             // under mu_
  void set_out_interest(Stream& s, bool on);
  bool seal(Stream& s, OutFrame& f);  // under s.smu (pair_send.cc)

  TcpDevice* dev_;
  int peer_;
  std::shared_ptr<const std::string> name_;  // "host 1 (10.0.0.2:4000)"
  std::vector<std::unique_ptr<Stream>> streams_;

  std::mutex send_mu_;  // message numbering and frame placement
  uint64_t send_seq_ = 0;
  size_t next_stream_ = 0;

  mutable std::mutex mu_;  // receive matching
  std::unordered_map<uint64_t, InMsg> msgs_;
  std::unordered_map<uint64_t, TagQ> tags_;
  uint64_t next_elig_ = 0;   // lowest msg_seq whose first chunk has not arrived yet
  CancelledTags cancelled_;  // tag ranges given up (cancel()), under mu_
  const TagRange* cancelled(uint64_t tag) const { return cancelled_.find(tag); }  // under mu_
  Status broken_;
  bool failed_ = false;  // progress thread's view of broken_
  Liveness live_;        // progress thread only

  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, messages_sent_{0}, messages_received_{0},
      checksum_failures_{0};
};

}  // namespace onet::net::tcp
