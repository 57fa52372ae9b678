// The vmstore command line. Exit codes: 0 ok, 1 user error, 2 internal or I/O
// error (including damage found by fsck / scrub).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/served_commands.h"
#include "gateway/cluster_manager.h"

namespace vmstore::cli {

Status Context::CheckOneStore() const {
  if (!etcd_flag.empty() && !pool_flag.empty()) {
    return InvalidArgument("--pool and --etcd name two different stores: give one");
  }
  return Status::OK();
}

std::string Context::Etcd() const {
  if (!etcd_flag.empty()) return etcd_flag;
  if (!pool_flag.empty()) return "";
  if (const char* e = std::getenv("VMSTORE_ETCD"); e && *e) return e;
  if (const char* e = std::getenv("VMSTORE_POOL"); e && *e) return "";
  return config.String("etcd");
}

StatusOr<std::string> Context::StateDir() const {
  if (shared) return shared_dir;
  if (Etcd().empty()) return Dir();
  if (!gateway_dir_flag.empty()) return gateway_dir_flag;
  if (const char* e = std::getenv("VMSTORE_GATEWAY_DIR"); e && *e) return std::string(e);
  if (std::string d = config.String("gateway_dir"); !d.empty()) return d;
  return std::string("/var/lib/vmstore/gateway");
}

StatusOr<std::string> Context::Dir() const {
  if (shared) return shared_dir;
  RETURN_IF_ERROR(CheckOneStore());
  if (!Etcd().empty()) {
    return InvalidArgument("this command works on a pool directory, and --etcd (or VMSTORE_ETCD) names a cluster " +
                           Etcd() + " (a cluster is made with: vmstore cluster init)");
  }
  if (!pool_flag.empty()) return pool_flag;
  if (const char* e = std::getenv("VMSTORE_POOL"); e && *e) return std::string(e);
  if (std::string p = config.String("pool"); !p.empty()) return p;
  return InvalidArgument("no pool given: pass --pool DIR, set VMSTORE_POOL or `pool` in the config file");
}

StatusOr<std::unique_ptr<Manager>> Context::Open() const {
  if (shared) return Internal("the served pool's manager is shared; commands use it directly");
  RETURN_IF_ERROR(CheckOneStore());
  if (std::string etcd = Etcd(); !etcd.empty()) {
    gateway::GatewayOptions g;
    g.endpoints = etcd;
    return gateway::OpenClusterManager(g, ManagerOptions{});
  }
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
  app.add_option("--etcd", ctx->etcd_flag,
                 "Work on the cluster whose etcd is at these endpoints (comma-separated) instead of a pool "
                 "(default: $VMSTORE_ETCD)");
  app.add_option("--gateway-dir", ctx->gateway_dir_flag,
                 "Cluster mode: the local directory of this host's gateway (sockets, token; default "
                 "$VMSTORE_GATEWAY_DIR, else /var/lib/vmstore/gateway)");
  app.add_flag("--json", ctx->json, "Machine-readable JSON output");
  std::string config_flag;  // read before parsing (main), so the commands see its values as defaults
  app.add_option("--config", config_flag,
                 "TOML config file (default: $VMSTORE_CONFIG, else /etc/vmstore/vmstore.toml if it exists)");
  AddPoolCommands(app, ctx);
  AddObjectCommands(app, ctx);
  AddSnapshotCommands(app, ctx);
  AddServeCommand(app, ctx);
  AddTransferCommands(app, ctx);
  AddPolicyCommands(app, ctx);
  AddMonitorCommands(app, ctx);
  AddConfigCommands(app, ctx);
  AddClusterCommands(app, ctx);
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
  Context ctx;
  std::string config_flag;
  const std::string cmd = CommandOf(args, &ctx.pool_flag, &config_flag, &ctx.etcd_flag, &ctx.gateway_dir_flag);
  ctx.config_flag = config_flag;
  auto config = vmstore::cli::Config::ForCommand(config_flag);
  if (config.ok()) {
    ctx.config = std::move(*config);
  } else if (cmd == "config") {  // `vmstore config check` and `show` report it themselves
    ctx.config_status = config.status();
  } else {
    return Fail(config.status());
  }
  // While `vmstore serve` runs on the pool (or, in cluster mode, this host's
  // gateway runs), commands go through it.
  if (auto dir = ctx.StateDir(); dir.ok()) {
    if (auto rc = ForwardToServer(args, cmd, *dir)) return *rc;
  }
  return RunCli(args, &ctx);  // parses the flags CommandOf found again, to the same values
}
