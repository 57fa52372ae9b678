#include "util/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vmstore::internal {

namespace {

bool FillAddress(const std::string& path, sockaddr_un* sa) {
  *sa = sockaddr_un{};
  sa->sun_family = AF_UNIX;
  if (path.size() >= sizeof sa->sun_path) return false;
  std::strcpy(sa->sun_path, path.c_str());
  return true;
}

}  // namespace

StatusOr<int> ListenUnix(const std::string& path, int mode, int backlog) {
  sockaddr_un sa;
  if (!FillAddress(path, &sa)) return InvalidArgument("unix socket path '" + path + "' is too long");
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (mode >= 0 && ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) || ::listen(fd, backlog) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    return ErrnoStatus(err, "listen on " + path);
  }
  return fd;
}

int ConnectUnix(const std::string& path) {
  sockaddr_un sa;
  if (!FillAddress(path, &sa)) return -1;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace vmstore::internal
