// A connection's byte stream: the socket itself, or TLS over it.
//
// Thread-safety: one thread may ReadFull while another WriteFulls (the NBD
// server's reader and its reply writers, the latter serialised by the
// caller); two concurrent readers or two concurrent writers are not allowed.
// Ownership: a Stream does not own or close the socket.
#pragma once

#include <cstddef>

#include "util/socket_io.h"

namespace vmstore::nbd {

class Stream {
 public:
  virtual ~Stream() = default;
  // False at EOF or on an error.
  virtual bool ReadFull(char* p, size_t n) = 0;
  // False if the peer is gone. Never raises SIGPIPE.
  virtual bool WriteFull(const char* p, size_t n) = 0;
  // Writes a then b, in as few packets as the stream can.
  virtual bool WriteFull2(const char* a, size_t na, const char* b, size_t nb) {
    return WriteFull(a, na) && (nb == 0 || WriteFull(b, nb));
  }
  virtual bool is_tls() const { return false; }
};

class SocketStream final : public Stream {
 public:
  explicit SocketStream(int fd) : fd_(fd) {}
  bool ReadFull(char* p, size_t n) override { return internal::ReadFull(fd_, p, n); }
  bool WriteFull(const char* p, size_t n) override { return internal::WriteFull(fd_, p, n); }
  bool WriteFull2(const char* a, size_t na, const char* b, size_t nb) override {
    return internal::WriteFull2(fd_, a, na, b, nb);
  }

 private:
  int fd_;
};

}  // namespace vmstore::nbd
