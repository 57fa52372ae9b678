// CommandRunner: runs a vmstore command, given as on the command line, inside
// the running server (with its open Manager) - what the control socket and
// the HTTP API's /v1/cli route serve. The CLI implements it
// (cli::ServedCommands); the server only carries requests to it, so this
// module does not depend on the command-line parser.
//
// Thread-safety: Run may be called from several threads at once.
#pragma once

#include <string>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::server {

struct CommandResult {
  int rc = 0;            // the CLI's exit code
  std::string out, err;  // what it printed
  Status failure;        // the error it failed with (OK for success or a usage error)
};

// A client's own streams and working directory (the transfer commands use them).
struct ClientStreams {
  int in_fd = 0, out_fd = 1, err_fd = 2;
  std::string cwd;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // `args` without the program name; `streams` null when the client passed none.
  virtual CommandResult Run(const std::vector<std::string>& args, const ClientStreams* streams) = 0;
};

}  // namespace vmstore::server
