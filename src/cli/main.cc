// The vmstore command line. Exit codes: 0 ok, 1 user error, 2 internal or I/O
// error (including damage found by fsck / scrub).
#include <CLI/CLI.hpp>
#include <cstdlib>

#include "cli/cli_util.h"
#include "cli/commands.h"

namespace vmstore::cli {

StatusOr<std::string> Context::Dir() const {
  if (!pool_flag.empty()) return pool_flag;
  if (const char* e = std::getenv("VMSTORE_POOL"); e && *e) return std::string(e);
  return InvalidArgument("no pool given: pass --pool DIR or set VMSTORE_POOL");
}

StatusOr<std::unique_ptr<Manager>> Context::Open() const {
  ASSIGN_OR_RETURN(std::string dir, Dir());
  return Manager::Open(dir, ManagerOptions{});
}

}  // namespace vmstore::cli

int main(int argc, char** argv) {
  using namespace vmstore::cli;
  CLI::App app{"VMStore: chain-free snapshots and clones for virtual-machine disks"};
  app.require_subcommand(1);
  Context ctx;
  app.add_option("--pool", ctx.pool_flag, "Pool directory (default: $VMSTORE_POOL)");
  app.add_flag("--json", ctx.json, "Machine-readable JSON output");
  AddPoolCommands(app, &ctx);
  AddObjectCommands(app, &ctx);
  AddSnapshotCommands(app, &ctx);
  AddServeCommand(app, &ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;  // a usage error is a user error
  }
  return ctx.rc;
}
