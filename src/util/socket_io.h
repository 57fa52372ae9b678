// Blocking socket helpers: whole-buffer reads and writes that retry on EINTR
// and short transfers. Used by the NBD server and the control socket.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <cstddef>

namespace vmstore::internal {

// Moves n bytes in pieces: `step(p, k)` moves up to k bytes and returns how
// many, 0 at the end of the stream, or a negative value, which `retry(r)`
// says is worth another try (an interrupted call) or not. False unless all n
// bytes moved. Shared by the socket helpers below and the TLS stream.
template <typename Ptr, typename Step, typename Retry>
bool TransferAll(Ptr p, size_t n, Step step, Retry retry) {
  while (n) {
    ssize_t r = step(p, n);
    if (r < 0 && retry(r)) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

inline bool Interrupted(ssize_t) { return errno == EINTR; }

// Bounds each blocking read and each blocking write on `fd` (0: no bound).
inline void SetSocketTimeouts(int fd, std::chrono::milliseconds read, std::chrono::milliseconds write) {
  auto tv = [](std::chrono::milliseconds t) {
    timeval v{};
    v.tv_sec = static_cast<time_t>(t.count() / 1000);
    v.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    return v;
  };
  const timeval r = tv(read), w = tv(write);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &w, sizeof w);
}

// False at EOF or on an error (then errno tells which).
inline bool ReadFull(int fd, char* p, size_t n) {
  return TransferAll(
      p, n, [fd](char* q, size_t k) { return ::recv(fd, q, k, 0); }, Interrupted);
}

// Never raises SIGPIPE; false if the peer is gone.
inline bool WriteFull(int fd, const char* p, size_t n) {
  return TransferAll(
      p, n, [fd](const char* q, size_t k) { return ::send(fd, q, k, MSG_NOSIGNAL); }, Interrupted);
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
