#include "cli/served_commands.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/cli_util.h"
#include "cli/commands.h"

namespace vmstore::cli {

std::string CommandOf(const std::vector<std::string>& args, std::string* pool) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--pool" && i + 1 < args.size()) {
      *pool = args[++i];
    } else if (a.rfind("--pool=", 0) == 0) {
      *pool = a.substr(7);
    } else if (!a.empty() && a[0] != '-') {
      return a;
    }
  }
  return "";
}

ServedCommands::Result ServedCommands::Run(const std::vector<std::string>& args, const Streams* streams) {
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
  Result r;
  if (IsTransferCommand(cmd) && !streams) {
    r.rc = Fail(InvalidArgument("'" + cmd + "' needs the client's streams (run it with the vmstore command)"));
  } else if (cmd == "serve" || cmd == "init" ||
             (cmd == "catalog" && std::find(args.begin(), args.end(), "import") != args.end())) {
    r.rc = Fail(FailedPrecondition("pool " + dir_ + " is being served; '" + cmd +
                                   "' needs it idle (stop the server with SIGTERM first)"));
  } else {
    Context ctx;
    ctx.shared = manager_;
    ctx.shared_dir = dir_;
    ctx.hooks = hooks_;
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
  std::fclose(out);
  std::fclose(err);
  r.out.assign(obuf, olen);
  r.err.assign(ebuf, elen);
  std::free(obuf);
  std::free(ebuf);
  return r;
}

}  // namespace vmstore::cli
