// The vmstore command line. Exit codes: 0 ok, 1 user error, 2 internal or I/O
// error (including damage found by fsck / scrub).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/control.h"

namespace vmstore::cli {

StatusOr<std::string> Context::Dir() const {
  if (shared) return shared_dir;
  if (!pool_flag.empty()) return pool_flag;
  if (const char* e = std::getenv("VMSTORE_POOL"); e && *e) return std::string(e);
  return InvalidArgument("no pool given: pass --pool DIR or set VMSTORE_POOL");
}

StatusOr<std::unique_ptr<Manager>> Context::Open() const {
  if (shared) return Internal("the served pool's manager is shared; commands use it directly");
  ASSIGN_OR_RETURN(std::string dir, Dir());
  return Manager::Open(dir, ManagerOptions{});
}

std::string Context::AbsPath(const std::string& path) const {
  if (path.empty() || path[0] == '/' || cwd.empty()) return path;
  return cwd + "/" + path;
}

bool IsTransferCommand(const std::string& cmd) {
  return cmd == "send" || cmd == "receive" || cmd == "import" || cmd == "export";
}

int RunCli(const std::vector<std::string>& args, Context* ctx) {
  CLI::App app{"VMStore: chain-free snapshots and clones for virtual-machine disks", "vmstore"};
  app.require_subcommand(1);
  app.add_option("--pool", ctx->pool_flag, "Pool directory (default: $VMSTORE_POOL)");
  app.add_flag("--json", ctx->json, "Machine-readable JSON output");
  AddPoolCommands(app, ctx);
  AddObjectCommands(app, ctx);
  AddSnapshotCommands(app, ctx);
  AddServeCommand(app, ctx);
  AddTransferCommands(app, ctx);
  AddPolicyCommands(app, ctx);
  AddMonitorCommands(app, ctx);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    int rc = app.exit(e, out, err);
    std::fputs(out.str().c_str(), Out());
    std::fputs(err.str().c_str(), Err());
    return rc == 0 ? 0 : 1;  // a usage error is a user error
  }
  return ctx->rc;
}

}  // namespace vmstore::cli

int main(int argc, char** argv) {
  using namespace vmstore::cli;
  // A closed pipe (send | head) is an error to report, not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  // While `vmstore serve` runs on the pool, commands go through it.
  if (auto rc = ForwardToServer(args)) return *rc;
  Context ctx;
  return RunCli(args, &ctx);
}
