// The commands a running `vmstore serve` runs for its clients (the control
// socket and the HTTP API): the same command code as the CLI, with the
// server's open Manager and hooks, output captured.
//
// Thread-safety: Run may be called from any thread; commands other than the
// transfers run one at a time. Ownership: borrows the Manager and hooks, which must outlive it.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "vmstore/manager.h"
#include "vmstore/status.h"

namespace vmstore::cli {

struct ServeHooks;

class ServedCommands {
 public:
  ServedCommands(std::string dir, Manager* manager, ServeHooks* hooks)
      : dir_(std::move(dir)), manager_(manager), hooks_(hooks) {}

  struct Result {
    int rc = 0;            // the CLI's exit code
    std::string out, err;  // what it printed
    Status failure;        // the error it failed with (OK for success or a usage error)
  };
  // A client's own streams and working directory (transfer commands).
  struct Streams {
    int in_fd = 0, out_fd = 1, err_fd = 2;
    std::string cwd;
  };
  // `args` as on the command line, without the program name. Commands that
  // need the pool idle (serve, init, catalog import) fail with
  // FailedPrecondition. Transfer commands (IsTransferCommand) need the
  // client's `streams` and run beside the others; the rest run one at a time.
  Result Run(const std::vector<std::string>& args, const Streams* streams = nullptr);

  ServeHooks* hooks() const { return hooks_; }
  Manager* manager() const { return manager_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  Manager* manager_;
  ServeHooks* hooks_;
  std::mutex mu_;
};

// The first word of `args` that is not an option (or the value of --pool or
// --config): the command; --pool's value goes to *pool, --config's to *config.
std::string CommandOf(const std::vector<std::string>& args, std::string* pool, std::string* config = nullptr);

}  // namespace vmstore::cli
