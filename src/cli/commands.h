// The vmstore subcommands. Each Add* registers its subcommands on `app`; their
// callbacks run after parsing and leave the process exit code in ctx->rc.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/config.h"
#include "metrics/pool_metrics.h"
#include "policy/policy.h"
#include "server/hooks.h"
#include "server/operations.h"
#include "vmstore/manager.h"

namespace vmstore::cli {

struct Context {
  std::string pool_flag;         // --pool
  std::string etcd_flag;         // --etcd (cluster mode)
  std::string gateway_dir_flag;  // --gateway-dir
  bool json = false;             // --json
  Config config;                 // the config file's values (main reads it; the server's when served)
  std::string config_flag;       // --config
  Status config_status;          // why the config file could not be read (main goes on only for `config`)
  int rc = 0;
  // Set when `vmstore serve` runs the command for a client: the server's open
  // Manager (commands use it and do not close it), and its pool directory.
  Manager* shared = nullptr;
  std::string shared_dir;
  server::Hooks* hooks = nullptr;
  // The server-aware operations over `m` (writes held, open exports refused).
  server::Operations Ops(Manager& m) const { return server::Operations(&m, hooks); }
  // The invoking process's standard streams and working directory: a
  // forwarded transfer command (send, receive, import, export) reads and
  // writes the client's, passed over the control socket.
  int in_fd = 0, out_fd = 1, err_fd = 2;
  std::string cwd;  // "" = this process's
  // `path` made absolute against cwd.
  std::string AbsPath(const std::string& path) const;
  // The cluster's etcd endpoints when commands work on a cluster: --etcd,
  // else (without --pool) $VMSTORE_ETCD, else (without $VMSTORE_POOL) the
  // config's `etcd`; "" for a pool directory.
  std::string Etcd() const;
  // InvalidArgument when both --pool and --etcd are given.
  Status CheckOneStore() const;
  // --pool, else $VMSTORE_POOL, else the config's `pool`; InvalidArgument if
  // none, or in cluster mode (the command needs a pool directory).
  StatusOr<std::string> Dir() const;
  // Where a server keeps its sockets and token: the pool directory, or in
  // cluster mode the gateway's directory (--gateway-dir, else
  // $VMSTORE_GATEWAY_DIR, else the config's `gateway_dir`, else
  // /var/lib/vmstore/gateway).
  StatusOr<std::string> StateDir() const;
  StatusOr<std::unique_ptr<Manager>> Open() const;
};

// A subcommand callback that runs `body` with an open Manager, turning errors
// into the exit code.
template <typename Body>
std::function<void()> WithManager(Context* ctx, Body body) {
  return [ctx, body] {
    if (ctx->shared) {
      Status s = body(*ctx->shared);
      ctx->rc = s.ok() ? 0 : Fail(s);
      return;
    }
    auto m = ctx->Open();
    if (!m.ok()) {
      ctx->rc = Fail(m.status());
      return;
    }
    Status s = body(**m);
    Status c = (*m)->Close();
    if (s.ok()) s = c;
    ctx->rc = s.ok() ? 0 : Fail(s);
  };
}

void PrintDeleteReport(const DeleteReport& r, bool as_json);

// Parses `args` (without the program name) and runs the command; returns the
// exit code. Output goes to Out() / Err().
int RunCli(const std::vector<std::string>& args, Context* ctx);

void AddPoolCommands(CLI::App& app, Context* ctx);      // init, fsck, scrub, demo
void AddObjectCommands(CLI::App& app, Context* ctx);    // sr, vm, disk, catalog
void AddSrCommands(CLI::App& app, Context* ctx);        // sr (AddObjectCommands calls it)
void AddSnapshotCommands(CLI::App& app, Context* ctx);  // snapshot
void AddServeCommand(CLI::App& app, Context* ctx);      // serve
void AddTransferCommands(CLI::App& app, Context* ctx);  // diff, send, receive, import, export, property
void AddPolicyCommands(CLI::App& app, Context* ctx);    // policy
void AddMonitorCommands(CLI::App& app, Context* ctx);   // status, metrics
void AddConfigCommands(CLI::App& app, Context* ctx);    // config show / check / example
void AddClusterCommands(CLI::App& app, Context* ctx);   // cluster init / status, node serve / list / show

// The pool at a glance (vmstore status); with `hooks` (served) the server's figures too.
Status PrintPoolStatus(Manager& m, bool as_json, const server::Hooks* hooks);
// The metrics in the Prometheus text format (vmstore metrics, GET /metrics); with
// `hooks` (served) the server's counters too.
StatusOr<std::string> MetricsText(Manager& m, const server::Hooks* hooks);

// Commands that run as clients of a running server with the invoking
// process's streams (Context::in_fd..): send, receive, import, export.
bool IsTransferCommand(const std::string& cmd);

}  // namespace vmstore::cli
