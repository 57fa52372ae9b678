// Unix stream sockets by path: the NBD server's sockets and the control
// socket listen with ListenUnix; the CLI connects with ConnectUnix.
// Thread-safety: plain functions. Ownership: the caller owns the descriptor.
#pragma once

#include <string>

#include "vmstore/status.h"

namespace vmstore::internal {

// A close-on-exec socket listening at `path` (an old socket file there is
// replaced). With `mode` >= 0 the file gets that mode before the socket
// listens, so no one connects under a wider one. Errors: InvalidArgument (the
// path does not fit sockaddr_un), else the failing call's errno ("listen on PATH").
StatusOr<int> ListenUnix(const std::string& path, int mode, int backlog);

// A connected socket, or -1 (no such socket, nobody listening, path too long).
int ConnectUnix(const std::string& path);

}  // namespace vmstore::internal
