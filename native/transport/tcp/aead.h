// AES-256-GCM sealing of TCP data frames (docs/transport.md "Encryption"). One FrameCipher per
// direction per socket, keyed from that socket's TLS 1.3 handshake (tls.h). The nonce is the
// cipher's own 64-bit frame counter: sender and receiver each consume one per frame in socket
// order, so (key, nonce) never repeats and a dropped, replayed or reordered frame fails to open.
// The 56-byte frame header is the additional data, the 16-byte tag travels right after it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "transport/tcp/frame.h"

namespace onet::net::tcp {

constexpr size_t kKeyBytes = 32;  // AES-256
constexpr size_t kMacBytes = 16;  // GCM tag

struct StreamKeys {
  uint8_t tx[kKeyBytes];  // this side -> peer
  uint8_t rx[kKeyBytes];  // peer -> this side
};

class FrameCipher {
 public:
  FrameCipher(const uint8_t key[kKeyBytes], bool encrypt);
  ~FrameCipher();
  FrameCipher(const FrameCipher&) = delete;
  FrameCipher& operator=(const FrameCipher&) = delete;
  bool ok() const { return ctx_ != nullptr; }

  // Send side: ciphertext of in[0, n) into out (may equal in), tag into mac.
  bool seal(const FrameHeader& h, const char* in, char* out, size_t n, uint8_t mac[kMacBytes]);
  // Receive side, streamed as the payload arrives: begin, update (in place) per piece, finish.
  bool open_begin(const FrameHeader& h);
  bool open_update(char* p, size_t n);
  bool open_finish(const uint8_t mac[kMacBytes]);  // false: the frame failed authentication

 private:
  void* ctx_ = nullptr;  // EVP_CIPHER_CTX
  uint64_t ctr_ = 0;
  bool iv(uint8_t out[12]);
};

}  // namespace onet::net::tcp
