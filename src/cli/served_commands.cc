#include "cli/served_commands.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "server/control.h"
#include "util/log.h"

namespace vmstore::cli {

std::string CommandOf(const std::vector<std::string>& args, std::string* pool, std::string* config, std::string* etcd,
                      std::string* gateway_dir) {
  std::string ignored[3];
  if (!config) config = &ignored[0];
  if (!etcd) etcd = &ignored[1];
  if (!gateway_dir) gateway_dir = &ignored[2];
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool matched = false;
    for (auto [flag, out] : {std::pair<const char*, std::string*>{"--pool", pool},
                             {"--config", config},
                             {"--etcd", etcd},
                             {"--gateway-dir", gateway_dir}}) {
      const std::string f = flag;
      if (a == f && i + 1 < args.size()) {
        *out = args[++i];
        matched = true;
      } else if (a.rfind(f + "=", 0) == 0) {
        *out = a.substr(f.size() + 1);
        matched = true;
      }
    }
    if (!matched && !a.empty() && a[0] != '-') return a;
  }
  return "";
}

namespace {

// Whether the command can change the pool: not when its command or
// subcommand only looks (status, vm list, snapshot show, ...).
bool ChangesThePool(const std::vector<std::string>& args, const std::string& cmd) {
  static const std::set<std::string> kLooking = {"status", "metrics", "list", "show", "find", "diff",
                                                 "send",   "export",  "tree", "fsck", "scrub"};
  if (kLooking.count(cmd)) return false;
  auto it = std::find(args.begin(), args.end(), cmd);
  if (it == args.end()) return true;    // no command at all (a usage error): logged as such
  for (++it; it != args.end(); ++it) {  // the subcommand: the next word that is not an option
    if (!it->empty() && (*it)[0] != '-') return !kLooking.count(*it);
  }
  return true;
}

}  // namespace

server::CommandResult ServedCommands::Run(const std::vector<std::string>& args, const server::ClientStreams* streams) {
  std::string pool;
  std::string cmd = CommandOf(args, &pool);
  std::unique_lock<std::mutex> l(mu_, std::defer_lock);
  if (!IsTransferCommand(cmd)) l.lock();
  char *obuf = nullptr, *ebuf = nullptr;
  size_t olen = 0, elen = 0;
  FILE* out = open_memstream(&obuf, &olen);
  FILE* err = open_memstream(&ebuf, &elen);
  SetOutput(out, err);
  (void)TakeLastFailure();
  server::CommandResult r;
  if (IsTransferCommand(cmd) && !streams) {
    r.rc = Fail(InvalidArgument("'" + cmd + "' needs the client's streams (run it with the vmstore command)"));
  } else if (cmd == "serve" || cmd == "init" ||
             (cmd == "catalog" && std::find(args.begin(), args.end(), "import") != args.end())) {
    r.rc = Fail(FailedPrecondition("pool " + dir_ + " is being served; '" + cmd +
                                   "' needs it idle (stop the server with SIGTERM first)"));
  } else if ((cmd == "node" && std::find(args.begin(), args.end(), "serve") != args.end()) ||
             std::find(args.begin(), args.end(), "--watch") != args.end()) {
    // They run until stopped: a client could hold the server's runner forever.
    r.rc = Fail(InvalidArgument("'" + cmd +
                                "' runs until interrupted: run it with the vmstore command, not through "
                                "the server"));
  } else {
    Context ctx;
    ctx.shared = manager_;
    ctx.shared_dir = dir_;
    ctx.hooks = hooks_;
    ctx.config = config_;
    if (streams) {
      ctx.in_fd = streams->in_fd;
      ctx.out_fd = streams->out_fd;
      ctx.err_fd = streams->err_fd;
      ctx.cwd = streams->cwd;
    }
    r.rc = RunCli(args, &ctx);
  }
  r.failure = TakeLastFailure();
  SetOutput(nullptr, nullptr);
  // An audit line per command: those that change the pool at info, the rest at debug.
  std::string line;
  for (const std::string& a : args) line += (line.empty() ? "" : " ") + a;
  const logging::Level level = ChangesThePool(args, cmd) || r.rc != 0 ? logging::Level::kInfo : logging::Level::kDebug;
  if (r.rc == 0) {
    logging::Write(level, "command", "ran", {{"args", line}, {"rc", r.rc}});
  } else {
    logging::Write(level, "command", "failed",
                   {{"args", line}, {"rc", r.rc}, {"error", r.failure.ok() ? r.err : r.failure.ToString()}});
  }
  std::fclose(out);
  std::fclose(err);
  r.out.assign(obuf, olen);
  r.err.assign(ebuf, elen);
  std::free(obuf);
  std::free(ebuf);
  return r;
}

std::optional<int> ForwardToServer(const std::vector<std::string>& args, const std::string& cmd,
                                   const std::string& server_dir) {
  if (cmd.empty() || cmd == "serve" || cmd == "init" || cmd == "config" || cmd == "cluster" || cmd == "node") {
    return std::nullopt;  // not the pool's: these run here
  }
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return std::nullopt;
  }
  if (server_dir.empty()) return std::nullopt;
  // The transfer commands use this process's streams, passed to the server.
  auto r = server::RunOnServer(server_dir, args, IsTransferCommand(cmd));
  if (!r) return std::nullopt;  // no server: run here
  std::fputs(r->out.c_str(), stdout);
  std::fputs(r->err.c_str(), stderr);
  return r->rc;
}

}  // namespace vmstore::cli
