// The management API of a running `vmstore serve`: a Unix socket in the pool
// directory (`vmstore.sock`, mode 0600) on which the server runs vmstore
// commands for local clients with its open Manager, so users can snapshot,
// clone and roll back disks while VMs use them.
//
// Wire format: the client sends a big-endian u32 length and a JSON object
// {"args": ["snapshot", "create", ...]}; the server answers the same way with
// {"rc": N, "out": "...", "err": "..."} and closes.
// The request may carry the client's stdin, stdout and stderr (SCM_RIGHTS)
// and its working directory ("cwd"), for the transfer commands.
// Thread-safety: each client on its own thread, at most kMaxClients at once
// (more are told the server is busy).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/command_runner.h"
#include "vmstore/status.h"

namespace vmstore::server {

class ControlServer {
 public:
  // Serves SocketPath(dir); `commands` must outlive the ControlServer.
  ControlServer(std::string dir, CommandRunner* commands) : dir_(std::move(dir)), commands_(commands) {}
  ~ControlServer() { Stop(); }
  Status Start();
  void Stop();
  static std::string SocketPath(const std::string& dir) { return dir + "/vmstore.sock"; }

 private:
  static constexpr size_t kMaxClients = 16;
  void Loop();
  void Handle(int fd);
  void ReapClients(bool all);  // joins finished client threads (all: every one)

  const std::string dir_;
  CommandRunner* commands_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  struct Client {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex clients_mu_;
  std::vector<Client> clients_;
};

// The running server's NBD socket for vmstore's own tools (import, export,
// send, receive): nbd::ServerOptions::admin_socket.
inline std::string AdminSocketPath(const std::string& dir) { return dir + "/nbd.sock"; }

struct RemoteResult {
  int rc = 2;
  std::string out, err;
};
// Runs a command on the server of pool `dir`; nullopt if none runs there.
// A server that does not answer gives rc 2 and a message in err.
// With `pass_streams`, this process's stdin, stdout and stderr go with the
// request (SCM_RIGHTS) and the command uses them (transfer commands).
std::optional<RemoteResult> RunOnServer(const std::string& dir, const std::vector<std::string>& args,
                                        bool pass_streams = false);

}  // namespace vmstore::server
