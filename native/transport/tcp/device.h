// TCP backend: a Device owns a listener, one epoll progress thread and a TcpPair (pair.h) per
// peer host; connect() builds the mesh with common/mesh.h (and, encrypted, tls.h per socket).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/tcp/pair.h"
#include "transport/tcp/tls.h"
#include "transport/common/options.h"
#include "transport/transport.h"

namespace onet::net::tcp {

class TcpDevice final : public Device {
 public:
  explicit TcpDevice(const TcpOptions& o) : opts_(o) {}
  ~TcpDevice() override { close(); }
  Status init();
  const char* name() const override { return "tcp"; }
  std::string address() const override { return address_; }
  Status connect(int rank, const std::vector<std::string>& addrs, int64_t deadline_ms) override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Pair* pair(int peer) override;
  LinkStats stats(int peer) const override;
  void close() override;

  const TcpOptions& opts() const { return opts_; }
  int epoll_fd() const { return ep_; }
  bool corrupt_next_frame();  // test hook (TcpOptions::test_corrupt_every_n_frames)
  bool encrypted() const { return tls_ != nullptr; }

 private:
  void progress();

  TcpOptions opts_;
  TlsContextPtr tls_;  // set: the data path is encrypted
  int listen_fd_ = -1, ep_ = -1, wake_fd_ = -1;
  std::string address_;
  int rank_ = 0, size_ = 1;
  bool connected_ = false;
  std::mutex close_mu_;
  bool closed_ = false;
  std::vector<std::unique_ptr<TcpPair>> pairs_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> frames_{0};
};

}  // namespace onet::net::tcp
