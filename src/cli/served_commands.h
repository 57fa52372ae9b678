// The commands a running `vmstore serve` runs for its clients (the control
// socket and the HTTP API's /v1/cli): the same command code as the CLI, with
// the server's open Manager and hooks, output captured. Also the client side:
// ForwardToServer sends a command line to the server of its pool.
//
// Thread-safety: Run may be called from any thread; commands other than the
// transfers run one at a time. Ownership: borrows the Manager and hooks, which
// must outlive it.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli/config.h"
#include "server/command_runner.h"
#include "server/hooks.h"
#include "vmstore/manager.h"
#include "vmstore/status.h"

namespace vmstore::cli {

class ServedCommands final : public server::CommandRunner {
 public:
  // `config`: the server's config file (what `config show` shows).
  ServedCommands(std::string dir, Manager* manager, server::Hooks* hooks, Config config)
      : dir_(std::move(dir)), manager_(manager), hooks_(hooks), config_(std::move(config)) {}

  // `args` as on the command line, without the program name. Commands that
  // need the pool idle (serve, init, catalog import) fail with
  // FailedPrecondition. Transfer commands (IsTransferCommand) need the
  // client's `streams` and run beside the others; the rest run one at a time.
  server::CommandResult Run(const std::vector<std::string>& args, const server::ClientStreams* streams) override;

 private:
  std::string dir_;
  Manager* manager_;
  server::Hooks* hooks_;
  Config config_;
  std::mutex mu_;
};

// The first word of `args` that is not an option (or the value of --pool,
// --config, --etcd or --gateway-dir): the command; those options' values go
// to the strings given.
std::string CommandOf(const std::vector<std::string>& args, std::string* pool, std::string* config = nullptr,
                      std::string* etcd = nullptr, std::string* gateway_dir = nullptr);

// If a server runs with its sockets in `server_dir` (the pool directory, or
// a gateway's directory), runs the command `cmd` of `args` there, prints its
// output and returns its exit code; nullopt to run it here.
std::optional<int> ForwardToServer(const std::vector<std::string>& args, const std::string& cmd,
                                   const std::string& server_dir);

}  // namespace vmstore::cli
