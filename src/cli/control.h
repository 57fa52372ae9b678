// The management API of a running `vmstore serve`: a Unix socket in the pool
// directory (`vmstore.sock`, mode 0600) on which the server runs vmstore
// commands for local clients with its open Manager, so users can snapshot,
// clone and roll back disks while VMs use them.
//
// Wire format: the client sends a big-endian u32 length and a JSON object
// {"args": ["snapshot", "create", ...]}; the server answers the same way with
// {"rc": N, "out": "...", "err": "..."} and closes.
// Thread-safety: one client at a time, on the control thread.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vmstore/manager.h"

namespace vmstore::cli {

class ServedCommands;

class ControlServer {
 public:
  // `commands` must outlive the ControlServer.
  explicit ControlServer(ServedCommands* commands) : commands_(commands) {}
  ~ControlServer() { Stop(); }
  Status Start();
  void Stop();
  static std::string SocketPath(const std::string& dir) { return dir + "/vmstore.sock"; }

 private:
  void Loop();
  void Handle(int fd);

  ServedCommands* commands_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// If a server runs on the pool these arguments name, runs the command there,
// prints its output and returns its exit code; nullopt to run it here.
std::optional<int> ForwardToServer(const std::vector<std::string>& args);

}  // namespace vmstore::cli
