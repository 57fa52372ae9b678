// Hooks: what a running server offers the operations it runs for clients
// (the control socket, the HTTP API, the policy thread).
//
// Thread-safety: every hook may be called from any thread while the server
// runs. Ownership: the server owns the Hooks; users borrow a pointer, and a
// null pointer means "no server runs" (a command run in its own process).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "metrics/pool_metrics.h"
#include "vmstore/status.h"

namespace vmstore::server {

struct Hooks {
  // Names of the exports that NBD clients have open now.
  std::function<std::vector<std::string>()> open_exports;
  // Disconnects the clients of these exports and waits until they are gone.
  std::function<void(const std::vector<std::string>&)> disconnect;
  // Runs `fn` while writes to the disks of `vm` are held: the writes already
  // acknowledged are in, the ones that arrive meanwhile wait.
  std::function<Status(const std::string& vm, const std::function<Status()>& fn)> quiesce;
  // The server's NBD socket for vmstore's own tools (import, export).
  std::string nbd_socket;
  // "nbd://HOST:PORT" of its TCP listener, for clients' URLs ("" without one).
  std::string nbd_url;
  // The server's counters now (status, metrics).
  std::function<metrics::ServerView()> server_view;
  // On a cluster gateway: the cluster at one look, as JSON text (what
  // `vmstore --json cluster status` prints); empty on a pool's server.
  std::function<StatusOr<std::string>()> cluster_status;
};

}  // namespace vmstore::server
