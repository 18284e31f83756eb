// Mutual TLS 1.3 on a freshly handshaken mesh socket, used only to agree keys: both sides
// present a certificate that must chain to the CA (TcpOptions::tls_*), the connecting side
// confirms the accepting side took its certificate (one byte over TLS), then each side derives
// its frame keys with SSL_export_keying_material (RFC 8446 §7.5) and drops the TLS session.
// The socket then carries frames sealed by aead.h, never TLS records (docs/transport.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "transport/tcp/aead.h"

namespace onet::net::tcp {

bool tls_available();  // false when built without OpenSSL

class TlsContext;  // an SSL_CTX with this host's certificate, key and the CA
struct TlsContextDeleter {
  void operator()(TlsContext*) const;
};
using TlsContextPtr = std::unique_ptr<TlsContext, TlsContextDeleter>;

// Loads the PEM files. kUnsupported without OpenSSL; kInvalid naming the file and why.
Status tls_context(const std::string& cert, const std::string& key, const std::string& ca, TlsContextPtr* out);

// Handshake on a connected socket (blocking or not; waits with poll until deadline_ms).
// `server`: this side accepted the TCP connection. On error the message says why (the
// peer's certificate, or the peer refused ours); the caller names the peer.
Status tls_secure(TlsContext* ctx, int fd, bool server, int stream, int64_t deadline_ms, StreamKeys* keys);

}  // namespace onet::net::tcp
