// TCP sockets by HOST:PORT: the NBD server and the storage nodes listen with
// ListenTcp; gateways connect to nodes with ConnectTcp.
// Thread-safety: plain functions. Ownership: the caller owns the descriptor.
#pragma once

#include <chrono>
#include <string>

#include "vmstore/status.h"

namespace vmstore::internal {

// A close-on-exec socket listening on `hostport` ("HOST:PORT", port 0 = any
// free one); *port gets the port bound. Errors: InvalidArgument naming `what`
// for a bad address, else the failing call's errno ("listen on HOSTPORT").
StatusOr<int> ListenTcp(const std::string& hostport, const std::string& what, int backlog, int* port);

// A connected close-on-exec socket with TCP_NODELAY, within `timeout`; send
// and receive then time out after `io_timeout`. IOError naming the address otherwise.
StatusOr<int> ConnectTcp(const std::string& hostport, std::chrono::milliseconds timeout,
                         std::chrono::milliseconds io_timeout);

}  // namespace vmstore::internal
