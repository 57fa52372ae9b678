// The optional HTTP+JSON management API of `vmstore serve` (--http HOST:PORT,
// loopback by default): the same commands as the CLI and the control socket,
// for orchestration tools. Every request needs `Authorization: Bearer TOKEN`,
// the token kept in a 0600 file (POOL/http.token unless --http-token-file).
//
//   GET    /metrics                       Prometheus text (docs/MONITORING.md)
//   GET    /v1/status                     pool status
//   GET    /v1/srs                        SRs
//   GET    /v1/vms[?all=1]  POST {name}
//   GET    /v1/vms/VM       DELETE ?recursive=1&dry_run=1&force=1
//   GET    /v1/vms/VM/disks POST {name, size, sr?}
//   GET    /v1/vms/VM/snapshots[?all=1]   POST {name}
//   GET    /v1/vms/VM/tree[?all=1]        the VM's snapshots and the clones made from them
//   DELETE /v1/vms/VM/snapshots/FULLNAME[?recursive=1&dry_run=1&force=1]
//   POST   /v1/vms/VM/rollback {snapshot, force?}
//   POST   /v1/vms/VM/clone    {snapshot, name, sr?}
//   GET    /v1/cluster                    a gateway's cluster: nodes, ring, moves (404 on a pool)
//   GET    /v1/exports                    exports NBD clients have open
//   POST   /v1/cli             {args: [...]}  any other command, as on the command line
//   GET    /  and  /ui/NAME               the web console (web/; no token: it asks for one)
//
// Route and body values are only ever values: every route calls the Manager
// (through server::Operations) directly and answers with the JSON views the
// CLI's --json prints (server/views.h); only /v1/cli parses a command line.
// Answers: 200 with the JSON view; errors as
// {"error": {"code", "message"}} with 400 (bad input), 401 (token), 404 (no
// such object), 409 (conflict: exists, open export, has children), 507 (no
// space) or 500.
// Requests reach the library only whole, through a front door that reads them
// under a deadline and size limits (server/http_gate.h): slow or silent
// clients cannot hold its threads.
// Thread-safety: Start/Stop from one thread; requests are served on the
// library's threads, concurrently (the Manager serialises what it must).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "server/command_runner.h"
#include "server/hooks.h"
#include "vmstore/env.h"
#include "vmstore/manager.h"
#include "vmstore/status.h"

namespace httplib {
class Server;
}

namespace vmstore::server {

class HttpApi {
 public:
  // What the routes work on; all borrowed, and they must outlive the HttpApi.
  struct Deps {
    Manager* manager;
    const Hooks* hooks;       // the running server's
    CommandRunner* commands;  // POST /v1/cli
    Env* env;                 // file-system space and the clock (status, metrics)
  };
  HttpApi(Deps deps, std::string token);
  ~HttpApi();
  // Binds HOST:PORT (port 0: any free one). InvalidArgument for a bad
  // address, IOError if it cannot be bound.
  Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

  // Reads the token from `path`, creating it (32 random bytes, hex, mode 0600)
  // when it does not exist. InvalidArgument if it is empty, shorter than 16
  // characters, or readable by group or others.
  static StatusOr<std::string> LoadOrCreateToken(const std::string& path);

 private:
  void Routes();
  void AddServerRoutes();  // http_routes.cc: status, metrics, exports, cli
  void AddObjectRoutes();  // http_routes.cc: SRs, VMs, disks, snapshots

  Deps deps_;
  std::string token_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<class HttpGate> gate_;  // the public address (server/http_gate.h)
  std::string dir_;                       // the private directory of the library's socket
  std::thread thread_;
  int port_ = 0;
};

}  // namespace vmstore::server
