#include "nbd/tls.h"

#include <gnutls/gnutls.h>
#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vmstore::nbd {
namespace {

// The key exchanges qemu and libnbd offer with pre-shared keys.
constexpr char kPskPriority[] = "+ECDHE-PSK:+DHE-PSK:+PSK";
constexpr int kHandshakeTimeoutMs = 10000;

Status CheckReadable(const std::string& what, const std::string& path) {
  std::ifstream f(path);
  if (!f) return InvalidArgument(what + " '" + path + "' cannot be read: " + std::strerror(errno));
  return Status::OK();
}

// The PSK file must hold at least one "username:hexkey" line.
Status CheckPskFile(const std::string& path) {
  RETURN_IF_ERROR(CheckReadable("--tls-psk file", path));
  std::ifstream f(path);
  std::string line;
  int n = 0, lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    size_t colon = line.find(':');
    std::string key = colon == std::string::npos ? "" : line.substr(colon + 1);
    bool hex = !key.empty() && key.size() % 2 == 0;
    for (char ch : key) hex &= std::isxdigit(static_cast<unsigned char>(ch)) != 0;
    if (colon == 0 || !hex) {
      return InvalidArgument("--tls-psk file '" + path + "' line " + std::to_string(lineno) +
                             " is not USERNAME:HEXKEY (e.g. made by: psktool -u alice -p FILE)");
    }
    ++n;
  }
  if (n == 0) return InvalidArgument("--tls-psk file '" + path + "' holds no USERNAME:HEXKEY line");
  return Status::OK();
}

Status TlsError(const std::string& what, int rc) { return IOError(what + ": " + gnutls_strerror(rc)); }

ssize_t Push(gnutls_transport_ptr_t fd, const void* p, size_t n) {
  return ::send(static_cast<int>(reinterpret_cast<intptr_t>(fd)), p, n, MSG_NOSIGNAL);
}

ssize_t Pull(gnutls_transport_ptr_t fd, void* p, size_t n) {
  return ::recv(static_cast<int>(reinterpret_cast<intptr_t>(fd)), p, n, 0);
}

// Bounds the handshake: >0 when data is ready, 0 on timeout.
int PullTimeout(gnutls_transport_ptr_t fd, unsigned int ms) {
  pollfd p{static_cast<int>(reinterpret_cast<intptr_t>(fd)), POLLIN, 0};
  return ::poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : static_cast<int>(ms));
}

class TlsStream final : public Stream {
 public:
  explicit TlsStream(gnutls_session_t s) : s_(s) {}
  ~TlsStream() override {
    gnutls_bye(s_, GNUTLS_SHUT_WR);  // best effort: the peer may be gone
    gnutls_deinit(s_);
  }
  bool ReadFull(char* p, size_t n) override {
    return internal::TransferAll(
        p, n, [this](char* q, size_t k) { return gnutls_record_recv(s_, q, k); }, Again);
  }
  bool WriteFull(const char* p, size_t n) override {
    return internal::TransferAll(
        p, n, [this](const char* q, size_t k) { return gnutls_record_send(s_, q, k); }, Again);
  }
  bool WriteFull2(const char* a, size_t na, const char* b, size_t nb) override {
    gnutls_record_cork(s_);  // one record for both
    if (!WriteFull(a, na) || !WriteFull(b, nb)) return false;
    int r;
    do {
      r = gnutls_record_uncork(s_, GNUTLS_RECORD_WAIT);
    } while (Again(r));
    return r >= 0;
  }
  bool is_tls() const override { return true; }

 private:
  // GnuTLS asks for the same call again (not for GNUTLS_E_AGAIN: on these
  // blocking sockets that is a send or receive timeout, which ends the stream).
  static bool Again(ssize_t r) { return r == GNUTLS_E_INTERRUPTED; }

  gnutls_session_t s_;
};

}  // namespace

struct TlsServer::Impl {
  gnutls_certificate_credentials_t x509 = nullptr;
  gnutls_psk_server_credentials_t psk = nullptr;
  gnutls_priority_t priority = nullptr;
  ~Impl() {
    if (priority) gnutls_priority_deinit(priority);
    if (x509) gnutls_certificate_free_credentials(x509);
    if (psk) gnutls_psk_free_server_credentials(psk);
  }
};

TlsServer::TlsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServer::~TlsServer() = default;

StatusOr<std::unique_ptr<TlsServer>> TlsServer::Create(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return InvalidArgument("--tls-cert and --tls-key go together (a PEM certificate and its private key)");
  }
  if (o.cert_file.empty() && o.psk_file.empty()) {
    return InvalidArgument("TLS needs --tls-cert/--tls-key (x509) or --tls-psk FILE");
  }
  auto impl = std::make_unique<Impl>();
  if (!o.cert_file.empty()) {
    RETURN_IF_ERROR(CheckReadable("--tls-cert", o.cert_file));
    RETURN_IF_ERROR(CheckReadable("--tls-key", o.key_file));
    int rc = gnutls_certificate_allocate_credentials(&impl->x509);
    if (rc < 0) return TlsError("x509 credentials", rc);
    rc = gnutls_certificate_set_x509_key_file(impl->x509, o.cert_file.c_str(), o.key_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
      return InvalidArgument("--tls-cert '" + o.cert_file + "' / --tls-key '" + o.key_file +
                             "': " + gnutls_strerror(rc));
    }
    gnutls_certificate_set_known_dh_params(impl->x509, GNUTLS_SEC_PARAM_MEDIUM);
  }
  if (!o.psk_file.empty()) {
    RETURN_IF_ERROR(CheckPskFile(o.psk_file));
    int rc = gnutls_psk_allocate_server_credentials(&impl->psk);
    if (rc < 0) return TlsError("PSK credentials", rc);
    rc = gnutls_psk_set_server_credentials_file(impl->psk, o.psk_file.c_str());
    if (rc < 0) return InvalidArgument("--tls-psk '" + o.psk_file + "': " + gnutls_strerror(rc));
    gnutls_psk_set_server_known_dh_params(impl->psk, GNUTLS_SEC_PARAM_MEDIUM);
  }
  const char* err = nullptr;
  int rc = impl->psk ? gnutls_priority_init2(&impl->priority, kPskPriority, &err, GNUTLS_PRIORITY_INIT_DEF_APPEND)
                     : gnutls_priority_init(&impl->priority, nullptr, &err);
  if (rc < 0) return TlsError("TLS priorities", rc);
  return std::unique_ptr<TlsServer>(new TlsServer(std::move(impl)));
}

std::string TlsServer::kinds() const {
  if (impl_->x509 && impl_->psk) return "x509+psk";
  return impl_->x509 ? "x509" : "psk";
}

StatusOr<std::unique_ptr<Stream>> TlsServer::Handshake(int fd) const {
  gnutls_session_t s;
  int rc = gnutls_init(&s, GNUTLS_SERVER);
  if (rc < 0) return TlsError("TLS session", rc);
  std::unique_ptr<Stream> stream(new TlsStream(s));  // deinits the session on every path out
  if ((rc = gnutls_priority_set(s, impl_->priority)) < 0) return TlsError("TLS priorities", rc);
  if (impl_->x509) {
    if ((rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, impl_->x509)) < 0) return TlsError("x509", rc);
    gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
  }
  if (impl_->psk && (rc = gnutls_credentials_set(s, GNUTLS_CRD_PSK, impl_->psk)) < 0) return TlsError("PSK", rc);
  gnutls_transport_set_ptr(s, reinterpret_cast<gnutls_transport_ptr_t>(static_cast<intptr_t>(fd)));
  gnutls_transport_set_push_function(s, Push);
  gnutls_transport_set_pull_function(s, Pull);
  gnutls_transport_set_pull_timeout_function(s, PullTimeout);
  gnutls_handshake_set_timeout(s, kHandshakeTimeoutMs);
  do {
    rc = gnutls_handshake(s);
  } while (rc < 0 && !gnutls_error_is_fatal(rc));
  if (rc < 0) return TlsError("TLS handshake", rc);
  return stream;
}

}  // namespace vmstore::nbd
