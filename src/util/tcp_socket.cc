#include "util/tcp_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "util/host_port.h"
#include "util/socket_io.h"

namespace vmstore::internal {

StatusOr<int> ListenTcp(const std::string& hostport, const std::string& what, int backlog, int* port) {
  ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(hostport, what));
  const std::string service = std::to_string(hp.port);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (int e = ::getaddrinfo(hp.host.empty() ? nullptr : hp.host.c_str(), service.c_str(), &hints, &res); e != 0) {
    return InvalidArgument(what + " '" + hostport + "': " + gai_strerror(e));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
    const int err = errno;
    ::freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return ErrnoStatus(err, "listen on " + hostport);
  }
  ::freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
  *port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

StatusOr<int> ConnectTcp(const std::string& hostport, std::chrono::milliseconds timeout,
                         std::chrono::milliseconds io_timeout) {
  ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(hostport, "node address"));
  const std::string service = std::to_string(hp.port);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (int e = ::getaddrinfo(hp.host.c_str(), service.c_str(), &hints, &res); e != 0) {
    return IOError("cannot resolve " + hostport + ": " + gai_strerror(e));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    const int err = errno;
    ::freeaddrinfo(res);
    return ErrnoStatus(err, "socket for " + hostport);
  }
  int r = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (r != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    int err = 0;
    socklen_t len = sizeof err;
    if (r == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (r != 1 || err != 0) {
      ::close(fd);
      return r == 0 ? IOError("connect to " + hostport + ": timed out")
                    : ErrnoStatus(err ? err : errno, "connect to " + hostport);
    }
  } else if (r != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "connect to " + hostport);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SetSocketTimeouts(fd, io_timeout, io_timeout);
  return fd;
}

}  // namespace vmstore::internal
