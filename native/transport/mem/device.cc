// create_mem_devices(): `size` devices over one Hub, already connected (connect() is a no-op
// that only checks the arguments), for algorithm tests with threads as ranks.
#include <memory>

#include "transport/mem/mem.h"

namespace onet::net {
namespace mem {
namespace {

class MemPair final : public Pair {
 public:
  MemPair(std::shared_ptr<Hub> hub, int self, int peer)
      : hub_(std::move(hub)), out_(hub_->get(self, peer)), in_(hub_->get(peer, self)), peer_(peer) {}
  int peer() const override { return peer_; }
  std::unique_ptr<Request> isend(const void* buf, size_t bytes, uint64_t tag) override {
    auto r = std::make_unique<MemRequest>(hub_, out_, true, const_cast<void*>(buf), bytes, tag);
    out_->post(r.get());
    return r;
  }
  std::unique_ptr<Request> irecv(void* buf, size_t bytes, uint64_t tag) override {
    auto r = std::make_unique<MemRequest>(hub_, in_, false, buf, bytes, tag);
    in_->post(r.get());
    return r;
  }

 private:
  std::shared_ptr<Hub> hub_;
  Channel* out_;
  Channel* in_;
  int peer_;
};

class MemDevice final : public Device {
 public:
  MemDevice(std::shared_ptr<Hub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {
    for (int p = 0; p < hub_->size; ++p) {
      pairs_.push_back(p == rank ? nullptr : std::make_unique<MemPair>(hub_, rank, p));
    }
  }
  ~MemDevice() override { close(); }
  const char* name() const override { return "mem"; }
  std::string address() const override { return "mem:" + std::to_string(rank_); }
  Status connect(int rank, const std::vector<std::string>& addrs, int64_t) override {
    if (rank != rank_ || int(addrs.size()) != hub_->size) {
      return {Code::kInvalid, "mem device " + std::to_string(rank_) + " of " + std::to_string(hub_->size) +
                                  " was asked to connect as rank " + std::to_string(rank) + " of " +
                                  std::to_string(addrs.size()) + "; mem devices are connected at creation"};
    }
    return Status::Ok();
  }
  int rank() const override { return rank_; }
  int size() const override { return hub_->size; }
  Pair* pair(int peer) override { return peer >= 0 && peer < hub_->size ? pairs_[peer].get() : nullptr; }
  LinkStats stats(int peer) const override {
    LinkStats s;
    if (peer < 0 || peer >= hub_->size || peer == rank_) return s;
    Channel* out = hub_->get(rank_, peer);
    Channel* in = hub_->get(peer, rank_);
    s.bytes_sent = out->bytes;
    s.messages_sent = out->messages;
    s.bytes_received = in->bytes;
    s.messages_received = in->messages;
    return s;
  }
  void close() override {
    if (closed_) return;
    closed_ = true;
    for (int p = 0; p < hub_->size; ++p) {
      if (p == rank_) continue;
      hub_->get(rank_, p)->fail_all(rank_);
      hub_->get(p, rank_)->fail_all(rank_);
    }
  }

 private:
  std::shared_ptr<Hub> hub_;
  int rank_;
  std::vector<std::unique_ptr<MemPair>> pairs_;
  bool closed_ = false;
};

}  // namespace
}  // namespace mem

std::vector<std::unique_ptr<Device>> create_mem_devices(int size) {
  auto hub = std::make_shared<mem::Hub>();
  hub->size = size < 0 ? 0 : size;
  for (int i = 0; i < hub->size * hub->size; ++i) {
    auto c = std::make_unique<mem::Channel>();
    c->src = i / hub->size;
    c->dst = i % hub->size;
    hub->ch.push_back(std::move(c));
  }
  std::vector<std::unique_ptr<Device>> out;
  for (int r = 0; r < hub->size; ++r) out.push_back(std::make_unique<mem::MemDevice>(hub, r));
  return out;
}

}  // namespace onet::net
