// Serve: the daemon behind `vmstore serve` - the NBD server over the pool's
// exports, the control socket, the optional HTTP API and the policy thread,
// until SIGTERM or SIGINT. The CLI parses the flags and the config file into
// ServeOptions; everything that runs is assembled here.
//
// Errors: InvalidArgument for bad options (a TLS mode without credentials),
// IOError when a listener cannot be bound. Ownership: borrows the Manager.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "nbd/server.h"
#include "nbd/tls.h"
#include "server/command_runner.h"
#include "server/hooks.h"
#include "util/log.h"
#include "vmstore/env.h"
#include "vmstore/manager.h"

namespace vmstore::server {

struct ServeOptions {
  std::string dir;               // the pool directory (sockets, token file)
  nbd::ServerOptions nbd;        // listeners, limits, allow rules (tls, admin_socket: set by Serve)
  std::string tls_mode = "off";  // off | on | require
  nbd::TlsOptions tls;           // credentials when tls_mode is not off
  std::string http_listen;       // "" for no HTTP API
  std::string http_token_file;   // "" for DIR/http.token
  int policy_tick_s = 10;
  logging::Options log;
  std::string config_origin;  // the config file read, for the start line
  Env* env = nullptr;         // nullptr: Env::Default()
  // A cluster gateway's view of its cluster (Hooks::cluster_status); empty on a pool.
  std::function<StatusOr<std::string>()> cluster_status;
};

// Makes what runs command lines for clients (control socket, /v1/cli), given
// the hooks of the running server.
using RunnerFactory = std::function<std::unique_ptr<CommandRunner>(Hooks* hooks)>;

// Runs until SIGTERM or SIGINT; returns OK after a clean stop.
Status Serve(Manager& m, const ServeOptions& options, const RunnerFactory& make_runner);

}  // namespace vmstore::server
