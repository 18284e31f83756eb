#include "transport/tcp/tls.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "transport/transport.h"

#ifdef ONET_HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#endif

namespace onet::net::tcp {

#ifdef ONET_HAVE_OPENSSL

class TlsContext {
 public:
  SSL_CTX* ctx = nullptr;
};

void TlsContextDeleter::operator()(TlsContext* c) const {
  if (c) SSL_CTX_free(c->ctx);
  delete c;
}

bool tls_available() { return true; }

namespace {

// The oldest queued OpenSSL error, "" if none; clears the queue.
std::string ssl_error() {
  unsigned long e = ERR_get_error(), last;
  std::string out;
  if (e) {
    char b[256];
    ERR_error_string_n(e, b, sizeof b);
    const char* r = ERR_reason_error_string(e);
    out = r ? r : b;
  }
  while ((last = ERR_get_error()) != 0) {}
  return out;
}

// Waits for the socket as OpenSSL asked; false at the deadline.
bool wait_io(int fd, int want, int64_t deadline_ms) {
  short ev = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
  for (;;) {
    int64_t left = deadline_ms - now_ms();
    if (left <= 0) return false;
    pollfd p{fd, ev, 0};
    int n = ::poll(&p, 1, int(std::min<int64_t>(left, 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a peer that hung up (it refused our
// certificate) would kill the process with SIGPIPE. Block it on this thread for the handshake
// and swallow the one it raised (the classic sigtimedwait dance; Node ignores SIGPIPE anyway).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      timespec zero{0, 0};
      while (sigtimedwait(&set_, nullptr, &zero) > 0) {}
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_, old_;
  bool was_pending_ = false;
};

// Runs op until it succeeds, fails or the deadline passes; "" on success, else why.
template <typename Op>
std::string drive(SSL* ssl, int fd, int64_t deadline_ms, Op op) {
  for (;;) {
    int r = op();
    if (r > 0) return "";
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait_io(fd, e, deadline_ms)) return "TLS handshake timed out";
      continue;
    }
    long v = SSL_get_verify_result(ssl);
    std::string why = ssl_error();
    if (v != X509_V_OK)
      return "its certificate failed verification: " + std::string(X509_verify_cert_error_string(v)) +
             " (is it issued by the CA in ONET_TLS_CA?)";
    if (why.find("alert") != std::string::npos)
      return "the peer refused our certificate or the handshake (" + why +
             "; is ONET_TLS_CERT issued by the CA it trusts?)";
    if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
      return why.empty() ? "the connection closed during the TLS handshake (the peer refused our certificate, or has "
                           "no data encryption)"
                         : why;
    return why.empty() ? "TLS error " + std::to_string(e) : why;
  }
}

}  // namespace

Status tls_context(const std::string& cert, const std::string& key, const std::string& ca, TlsContextPtr* out) {
  TlsContextPtr c(new TlsContext);
  c->ctx = SSL_CTX_new(TLS_method());
  if (!c->ctx) return {Code::kInternal, "tls: SSL_CTX_new: " + ssl_error()};
  SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION);
  // No session tickets: after the handshake the socket carries our frames, never TLS records.
  SSL_CTX_set_num_tickets(c->ctx, 0);
  SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  auto bad = [](const char* var, const std::string& path, const std::string& why) {
    return Status{Code::kInvalid, std::string("tls: ") + var + "=" + path + ": " + why + " (a PEM file is expected)"};
  };
  if (SSL_CTX_use_certificate_chain_file(c->ctx, cert.c_str()) != 1) return bad("ONET_TLS_CERT", cert, ssl_error());
  if (SSL_CTX_use_PrivateKey_file(c->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return bad("ONET_TLS_KEY", key, ssl_error());
  if (SSL_CTX_check_private_key(c->ctx) != 1)
    return bad("ONET_TLS_KEY", key, "does not match ONET_TLS_CERT: " + ssl_error());
  if (SSL_CTX_load_verify_locations(c->ctx, ca.c_str(), nullptr) != 1) return bad("ONET_TLS_CA", ca, ssl_error());
  *out = std::move(c);
  return Status::Ok();
}

Status tls_secure(TlsContext* ctx, int fd, bool server, int stream, int64_t deadline_ms, StreamKeys* keys) {
  SigpipeGuard no_sigpipe;
  std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(ctx->ctx), SSL_free);
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) return {Code::kInternal, "tls: SSL_new: " + ssl_error()};
  // read_ahead stays off: OpenSSL reads exactly the TLS records, never our frames behind them.
  std::string why =
      drive(ssl.get(), fd, deadline_ms, [&] { return server ? SSL_accept(ssl.get()) : SSL_connect(ssl.get()); });
  // TLS 1.3: the connecting side finishes before the accepting side has checked its
  // certificate, so it waits for the accepting side's one-byte confirmation.
  char ok = 1;
  if (why.empty())
    why = drive(ssl.get(), fd, deadline_ms,
                [&] { return server ? SSL_write(ssl.get(), &ok, 1) : SSL_read(ssl.get(), &ok, 1); });
  if (!why.empty()) return {Code::kMismatch, why};
  if (SSL_version(ssl.get()) != TLS1_3_VERSION) return {Code::kMismatch, "the peer did not negotiate TLS 1.3"};
  // Per direction and per stream: (label, context) never repeats within one session.
  std::string ctx_s = "stream " + std::to_string(stream);
  const char* c2s = "EXPORTER-onet-data-c2s";  // connecting side -> accepting side
  const char* s2c = "EXPORTER-onet-data-s2c";
  auto derive = [&](const char* label, uint8_t* out) {
    return SSL_export_keying_material(ssl.get(), out, kKeyBytes, label, std::strlen(label),
                                      reinterpret_cast<const uint8_t*>(ctx_s.data()), ctx_s.size(), 1) == 1;
  };
  if (!derive(server ? s2c : c2s, keys->tx) || !derive(server ? c2s : s2c, keys->rx))
    return {Code::kInternal, "tls: key export failed: " + ssl_error()};
  return Status::Ok();  // the SSL object goes; SSL_set_fd's BIO does not close the socket
}

#else  // built without OpenSSL

class TlsContext {};
void TlsContextDeleter::operator()(TlsContext* c) const { delete c; }
bool tls_available() { return false; }

Status tls_context(const std::string&, const std::string&, const std::string&, TlsContextPtr*) {
  return {
      Code::kUnsupported,
      "tcp: data encryption (ONET_TLS_CERT/ONET_TLS_KEY/ONET_TLS_CA) needs a build with OpenSSL 3: install libssl-dev "
      "and rebuild (npm run build:native), or set ONET_TLS_DATA=0 to encrypt only the rendezvous"};
}
Status tls_secure(TlsContext*, int, bool, int, int64_t, StreamKeys*) {
  return {Code::kUnsupported, "built without OpenSSL"};
}

#endif

}  // namespace onet::net::tcp
