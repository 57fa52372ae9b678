// TLS for the NBD server (NBD_OPT_STARTTLS), with GnuTLS: an x509
// certificate and key, and/or pre-shared keys in the format of qemu's
// `tls-creds-psk` and nbdkit's `--tls-psk` (one "username:hexkey" per line).
//
// Example:
//   TlsOptions o{.cert_file = "server-cert.pem", .key_file = "server-key.pem"};
//   ASSIGN_OR_RETURN(auto tls, TlsServer::Create(o));
//   ASSIGN_OR_RETURN(std::unique_ptr<Stream> s, tls->Handshake(fd));
//
// Thread-safety: a TlsServer is immutable after Create; Handshake may be
// called from many threads at once. Ownership: the Streams it returns do not
// own the socket; each must be destroyed before the TlsServer.
#pragma once

#include <memory>
#include <string>

#include "nbd/stream.h"
#include "vmstore/status.h"

namespace vmstore::nbd {

struct TlsOptions {
  std::string cert_file, key_file;  // PEM x509 certificate (chain) and its private key
  std::string psk_file;             // username:hexkey lines
};

class TlsServer {
 public:
  // InvalidArgument naming the file and the problem: a certificate without a
  // key (or the reverse), unreadable or malformed files, nothing configured.
  static StatusOr<std::unique_ptr<TlsServer>> Create(const TlsOptions& options);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // Runs the server side of a TLS handshake on `fd` (10 s at most); the
  // returned stream carries the rest of the connection. IOError (with
  // GnuTLS's reason) if the handshake fails.
  StatusOr<std::unique_ptr<Stream>> Handshake(int fd) const;

  // What the server offers, for messages: "x509", "psk" or "x509+psk".
  std::string kinds() const;

 private:
  struct Impl;
  explicit TlsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmstore::nbd
