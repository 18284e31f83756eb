#include "transport/tcp/aead.h"

#include <cstring>

#ifdef ONET_HAVE_OPENSSL
#include <openssl/evp.h>
#endif

namespace onet::net::tcp {

#ifdef ONET_HAVE_OPENSSL

static EVP_CIPHER_CTX* C(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

FrameCipher::FrameCipher(const uint8_t key[kKeyBytes], bool encrypt) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (!c) return;
  // The key schedule is set once; every frame only sets a new IV.
  bool good = encrypt ? EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, nullptr) == 1
                      : EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, nullptr) == 1;
  if (!good) {
    EVP_CIPHER_CTX_free(c);
    return;
  }
  ctx_ = c;
}

FrameCipher::~FrameCipher() { EVP_CIPHER_CTX_free(C(ctx_)); }

// 96-bit nonce: 4 zero bytes, then the frame counter (LE). 2^64 frames per key: never wraps.
bool FrameCipher::iv(uint8_t out[12]) {
  std::memset(out, 0, 4);
  uint64_t n = ctr_++;
  std::memcpy(out + 4, &n, 8);
  return true;
}

bool FrameCipher::seal(const FrameHeader& h, const char* in, char* out, size_t n, uint8_t mac[kMacBytes]) {
  if (!ctx_) return false;  // out of memory at construction: the link fails, it never sends plaintext
  uint8_t nonce[12];
  iv(nonce);
  int len = 0;
  if (EVP_EncryptInit_ex(C(ctx_), nullptr, nullptr, nullptr, nonce) != 1) return false;
  if (EVP_EncryptUpdate(C(ctx_), nullptr, &len, reinterpret_cast<const uint8_t*>(&h), sizeof h) != 1) return false;
  if (n && EVP_EncryptUpdate(C(ctx_), reinterpret_cast<uint8_t*>(out), &len, reinterpret_cast<const uint8_t*>(in),
                             int(n)) != 1)
    return false;
  uint8_t tail[16];  // GCM writes nothing here; a real buffer keeps n == 0 frames simple
  if (EVP_EncryptFinal_ex(C(ctx_), tail, &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(C(ctx_), EVP_CTRL_GCM_GET_TAG, int(kMacBytes), mac) == 1;
}

bool FrameCipher::open_begin(const FrameHeader& h) {
  if (!ctx_) return false;
  uint8_t nonce[12];
  iv(nonce);
  int len = 0;
  if (EVP_DecryptInit_ex(C(ctx_), nullptr, nullptr, nullptr, nonce) != 1) return false;
  return EVP_DecryptUpdate(C(ctx_), nullptr, &len, reinterpret_cast<const uint8_t*>(&h), sizeof h) == 1;
}

bool FrameCipher::open_update(char* p, size_t n) {
  int len = 0;
  return EVP_DecryptUpdate(C(ctx_), reinterpret_cast<uint8_t*>(p), &len, reinterpret_cast<uint8_t*>(p), int(n)) == 1;
}

bool FrameCipher::open_finish(const uint8_t mac[kMacBytes]) {
  uint8_t tag[kMacBytes], tail[16];
  std::memcpy(tag, mac, kMacBytes);
  int len = 0;
  if (EVP_CIPHER_CTX_ctrl(C(ctx_), EVP_CTRL_GCM_SET_TAG, int(kMacBytes), tag) != 1) return false;
  return EVP_DecryptFinal_ex(C(ctx_), tail, &len) == 1;
}

#else  // built without OpenSSL: TcpDevice::init refuses encryption before any cipher exists

FrameCipher::FrameCipher(const uint8_t*, bool) {}
FrameCipher::~FrameCipher() = default;
bool FrameCipher::iv(uint8_t*) { return false; }
bool FrameCipher::seal(const FrameHeader&, const char*, char*, size_t, uint8_t*) { return false; }
bool FrameCipher::open_begin(const FrameHeader&) { return false; }
bool FrameCipher::open_update(char*, size_t) { return false; }
bool FrameCipher::open_finish(const uint8_t*) { return false; }

#endif

}  // namespace onet::net::tcp
