// Blocking socket helpers: whole-buffer reads and writes that retry on EINTR
// and short transfers. Used by the NBD server and the control socket.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

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

// WriteFull of a then b with one sendmsg when the socket takes it all.
inline bool WriteFull2(int fd, const char* a, size_t na, const char* b, size_t nb) {
  iovec iov[2] = {{const_cast<char*>(a), na}, {const_cast<char*>(b), nb}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = nb ? 2 : 1;
  for (;;) {
    ssize_t r = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    size_t done = static_cast<size_t>(r);
    if (done >= na) return WriteFull(fd, b + (done - na), nb - (done - na));
    return WriteFull(fd, a + done, na - done) && WriteFull(fd, b, nb);
  }
}

}  // namespace vmstore::internal
