// Blocking socket helpers: whole-buffer reads and writes that retry on EINTR
// and short transfers. Used by the NBD server and the control socket.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

namespace vmstore::internal {

// False at EOF or on an error (then errno tells which).
inline bool ReadFull(int fd, char* p, size_t n) {
  while (n) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Never raises SIGPIPE; false if the peer is gone.
inline bool WriteFull(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace vmstore::internal
